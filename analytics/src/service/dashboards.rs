//! The managers' dashboards over every stored answer.

use super::*;

impl Analytics {
    /// The dashboard tables over every stored answer.
    pub async fn dashboards(&self, period: Period) -> Result<(Dashboards, usize), ServiceError> {
        let all = self.all_answers().await?;
        let count = all.len();
        let rules = Arc::clone(&self.rules);
        let dashboards = blocking(move || {
            let rows = answers::to_frame(&all).map_err(ServiceError::internal)?;
            pipeline::dashboards(pipeline::scored(rows, &rules), &rules, period)
                .map_err(ServiceError::internal)
        })
        .await?;
        Ok((dashboards, count))
    }

    pub async fn dashboard(
        &self,
        principal: &Principal,
        period: &str,
    ) -> Result<Dashboard, ServiceError> {
        principal.require_any(&[Role::Manager, Role::Admin])?;
        let period = if period.trim().is_empty() {
            Period::default()
        } else {
            Period::parse(period)?
        };
        let (dashboards, answers) = self.dashboards(period).await?;
        let (tables, respondents) = blocking(move || {
            let respondents = dashboards
                .indicators
                .clone()
                .lazy()
                .filter(col("breakdown").eq(lit(pipeline::ALL)))
                .select([col("respondents")])
                .collect()
                .ok()
                .and_then(|df| df.column("respondents").ok()?.u32().ok()?.get(0))
                .unwrap_or(0);
            let mut tables = Vec::new();
            for (name, table) in dashboards.tables() {
                let mut table = table.clone();
                let mut csv = Vec::new();
                CsvWriter::new(&mut csv)
                    .include_header(true)
                    .finish(&mut table)
                    .map_err(ServiceError::internal)?;
                tables.push(DashboardTable {
                    name: name.to_owned(),
                    csv,
                    rows: table.height(),
                });
            }
            Ok((tables, respondents))
        })
        .await?;
        Ok(Dashboard {
            tables,
            respondents,
            answers,
            min_cell_size: self.rules.min_cell_size,
            rules_version: self.rules.version.clone(),
        })
    }
}
