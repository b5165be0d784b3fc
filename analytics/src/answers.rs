//! Checked survey answers as Rust values, to and from Polars frames and the store.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::survey::{EQUIPMENT, LINE, TASKS};

/// One checked answer; the store keeps it under `(respondent_id, surveyed_on)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub respondent_id: String,
    /// `YYYY-MM-DD`.
    pub surveyed_on: String,
    pub antenna: String,
    pub age_band: String,
    /// has_smartphone, has_computer, has_internet_home.
    pub equipment: [bool; 3],
    /// One code per task, in [`TASKS`] order: 0 cannot, 1 with help, 2 alone.
    pub tasks: [u8; 8],
}

impl Answer {
    pub fn key(&self) -> String {
        format!("{}/{}", self.respondent_id, self.surveyed_on)
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, crate::error::Error> {
        serde_json::from_slice(bytes).map_err(|e| crate::error::Error::StoredAnswer(e.to_string()))
    }
}

/// The answers of checked rows (see [`survey::check`]), with their line.
pub fn from_frame(df: &DataFrame) -> PolarsResult<Vec<(u64, Answer)>> {
    let lines = df.column(LINE)?.u64()?;
    let ids = df.column("respondent_id")?.str()?;
    let dates = df.column("surveyed_on")?.cast(&DataType::String)?;
    let dates = dates.str()?;
    let antennas = df.column("antenna")?.str()?;
    let bands = df.column("age_band")?.str()?;
    let equipment = EQUIPMENT
        .iter()
        .map(|e| df.column(e).and_then(|c| c.bool().cloned()))
        .collect::<PolarsResult<Vec<_>>>()?;
    let tasks = TASKS
        .iter()
        .map(|t| df.column(t).and_then(|c| c.u8().cloned()))
        .collect::<PolarsResult<Vec<_>>>()?;
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut answer = Answer {
            respondent_id: ids.get(i).unwrap_or_default().to_owned(),
            surveyed_on: dates.get(i).unwrap_or_default().to_owned(),
            antenna: antennas.get(i).unwrap_or_default().to_owned(),
            age_band: bands.get(i).unwrap_or_default().to_owned(),
            equipment: [false; 3],
            tasks: [0; 8],
        };
        for (slot, column) in answer.equipment.iter_mut().zip(&equipment) {
            *slot = column.get(i).unwrap_or(false);
        }
        for (slot, column) in answer.tasks.iter_mut().zip(&tasks) {
            *slot = column.get(i).unwrap_or(0);
        }
        out.push((lines.get(i).unwrap_or(0), answer));
    }
    Ok(out)
}

/// Answers as a checked frame, ready for [`crate::pipeline::scored`].
pub fn to_frame(answers: &[Answer]) -> PolarsResult<LazyFrame> {
    let n = answers.len();
    let mut columns = vec![
        Column::new(LINE.into(), (1..=n as u64).collect::<Vec<u64>>()),
        Column::new(
            "respondent_id".into(),
            answers
                .iter()
                .map(|a| a.respondent_id.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "surveyed_on".into(),
            answers
                .iter()
                .map(|a| a.surveyed_on.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "antenna".into(),
            answers
                .iter()
                .map(|a| a.antenna.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "age_band".into(),
            answers
                .iter()
                .map(|a| a.age_band.as_str())
                .collect::<Vec<_>>(),
        ),
    ];
    for (i, e) in EQUIPMENT.iter().enumerate() {
        columns.push(Column::new(
            (*e).into(),
            answers.iter().map(|a| a.equipment[i]).collect::<Vec<_>>(),
        ));
    }
    for (i, t) in TASKS.iter().enumerate() {
        columns.push(Column::new(
            (*t).into(),
            answers.iter().map(|a| a.tasks[i]).collect::<Vec<_>>(),
        ));
    }
    let df = DataFrame::new(n, columns)?;
    Ok(df
        .lazy()
        .with_column(col("surveyed_on").str().to_date(StrptimeOptions {
            format: Some("%Y-%m-%d".into()),
            strict: true,
            exact: true,
            cache: true,
        })))
}
