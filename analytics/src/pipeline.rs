//! Scores, levels and pathways per respondent, and the managers' dashboard tables, as Polars
//! lazy queries over checked survey rows (see [`crate::survey`]).

use std::path::Path;

use polars::prelude::*;

use crate::rules::Rules;
use crate::survey::{ALONE, CANNOT, TASKS};

/// How answers are grouped in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Period {
    Month,
    #[default]
    Quarter,
    Year,
}

impl Period {
    pub fn parse(name: &str) -> Result<Self, crate::error::Error> {
        match name.trim().to_lowercase().as_str() {
            "month" => Ok(Period::Month),
            "quarter" => Ok(Period::Quarter),
            "year" => Ok(Period::Year),
            other => Err(crate::error::Error::Period(other.to_owned())),
        }
    }

    /// `2026-11`, `2026-Q4` or `2026`.
    fn of(self, date: Expr) -> Expr {
        match self {
            Period::Month => date.dt().strftime("%Y-%m"),
            Period::Quarter => concat_str(
                [
                    date.clone().dt().year().cast(DataType::String),
                    lit("-Q"),
                    date.dt().quarter().cast(DataType::String),
                ],
                "",
                false,
            ),
            Period::Year => date.dt().year().cast(DataType::String),
        }
    }
}

pub const SCORE: &str = "score";
pub const LEVEL: &str = "level";
pub const PATHWAY: &str = "pathway";
pub const FIRST_MODULE: &str = "first_module";
/// The value of a dimension a table row is not broken down by.
pub const ALL: &str = "all";

pub fn task_score_column(task: &str) -> String {
    format!("score_{task}")
}

pub fn area_score_column(area: &str) -> String {
    format!("area_{area}")
}

pub fn needs_column(module: &str) -> String {
    format!("needs_{module}")
}

fn null_of(dtype: DataType) -> Expr {
    lit(NULL).cast(dtype)
}

/// `when(c1).then(v1).when(c2).then(v2)…otherwise(otherwise)`, from a list of cases.
pub(crate) fn cases(cases: Vec<(Expr, Expr)>, otherwise: Expr) -> Expr {
    let mut cases = cases.into_iter();
    let Some((c1, v1)) = cases.next() else {
        return otherwise;
    };
    let first = when(c1).then(v1);
    let Some((c2, v2)) = cases.next() else {
        return first.otherwise(otherwise);
    };
    let mut chain = first.when(c2).then(v2);
    for (c, v) in cases {
        chain = chain.when(c).then(v);
    }
    chain.otherwise(otherwise)
}

/// Adds to checked rows: a score per task (`score_<task>`) and per area (`area_<area>`), the
/// overall [`SCORE`], the autonomy [`LEVEL`] (0–4), whether each module is needed
/// (`needs_<module>`), the [`PATHWAY`] (needed module ids in order, `|`-separated) and the
/// [`FIRST_MODULE`].
pub fn scored(rows: LazyFrame, rules: &Rules) -> LazyFrame {
    let task_score = |task: &str| {
        when(col(task).eq(lit(0u8)))
            .then(lit(rules.task_score(0)))
            .when(col(task).eq(lit(1u8)))
            .then(lit(rules.task_score(1)))
            .otherwise(lit(rules.task_score(2)))
    };
    let mut scores: Vec<Expr> = TASKS
        .iter()
        .map(|t| task_score(t).alias(task_score_column(t)))
        .collect();
    for area in &rules.areas {
        let sum = area
            .tasks
            .iter()
            .map(|t| col(task_score_column(t)))
            .reduce(|a, b| a + b)
            .unwrap_or_else(|| lit(0.0));
        #[allow(clippy::cast_precision_loss)]
        let n = area.tasks.len() as f64;
        scores.push((sum / lit(n)).alias(area_score_column(&area.id)));
    }
    let overall = TASKS
        .iter()
        .map(|t| col(task_score_column(t)))
        .reduce(|a, b| a + b)
        .unwrap_or_else(|| lit(0.0));
    #[allow(clippy::cast_precision_loss)]
    let overall = (overall / lit(TASKS.len() as f64)).alias(SCORE);

    // The highest level whose threshold the score reaches.
    let level = cases(
        rules
            .levels
            .iter()
            .rev()
            .map(|l| (col(SCORE).gt_eq(lit(l.min_score)), lit(l.level)))
            .collect(),
        lit(0u8),
    )
    .cast(DataType::UInt8)
    .alias(LEVEL);

    let needs: Vec<Expr> = rules
        .modules
        .iter()
        .map(|m| {
            let mut need = lit(false);
            for t in &m.tasks {
                need = need.or(col(t.as_str()).lt(lit(ALONE)));
            }
            if let Some(up_to) = m.up_to_level {
                need = need.or(col(LEVEL).lt_eq(lit(up_to)));
            }
            if m.no_device {
                need = need.or(col("has_smartphone").not().and(col("has_computer").not()));
            }
            need.alias(needs_column(&m.id))
        })
        .collect();
    let pathway = concat_str(
        rules
            .modules
            .iter()
            .map(|m| {
                when(col(needs_column(&m.id)))
                    .then(lit(m.id.clone()))
                    .otherwise(null_of(DataType::String))
            })
            .collect::<Vec<_>>(),
        "|",
        true,
    )
    .alias(PATHWAY);
    let first = cases(
        rules
            .modules
            .iter()
            .map(|m| (col(needs_column(&m.id)), lit(m.id.clone())))
            .collect(),
        null_of(DataType::String),
    )
    .alias(FIRST_MODULE);

    let areas = scores.split_off(TASKS.len());
    rows.with_columns(scores)
        .with_columns(areas)
        .with_column(overall)
        .with_column(level)
        .with_columns(needs)
        .with_columns([pathway, first])
}

/// The managers' tables.
#[derive(Debug)]
pub struct Dashboards {
    /// Shares of people unable to do each task (not `alone`) and unable even with help
    /// (`cannot`), the two published headline figures, autonomy levels and modules needed:
    /// overall and by antenna, age band and period, with small cells suppressed.
    pub indicators: DataFrame,
    /// People surveyed again: how their level moved, by antenna and period of the last survey.
    pub progress: DataFrame,
}

impl Dashboards {
    pub fn tables(&self) -> [(&'static str, &DataFrame); 2] {
        [
            ("indicators", &self.indicators),
            ("progress", &self.progress),
        ]
    }
}

fn share(condition: Expr) -> Expr {
    (condition.cast(DataType::Float64).mean() * lit(100.0)).round(1, RoundMode::HalfAwayFromZero)
}

/// The indicators, computed in two steps so the rows are read once: counts per finest cell
/// (antenna × age band × period), then shares of each breakdown from those counts. Returns the
/// per-cell aggregations, the roll-up aggregations and the names of the values.
fn indicator_aggregations(rules: &Rules) -> (Vec<Expr>, Vec<Expr>, Vec<String>) {
    let mut counted: Vec<(String, Expr)> = vec![
        (
            "cannot_file_taxes_online".into(),
            col("tax_online").neq(lit(ALONE)),
        ),
        (
            "no_online_formality".into(),
            col("online_procedure").eq(lit(CANNOT)),
        ),
    ];
    for t in TASKS {
        counted.push((format!("unable_{t}"), col(*t).neq(lit(ALONE))));
    }
    for t in TASKS {
        counted.push((format!("cannot_{t}"), col(*t).eq(lit(CANNOT))));
    }
    let mut levels: Vec<(String, Expr)> = rules
        .levels
        .iter()
        .map(|l| (format!("level_{}", l.level), col(LEVEL).eq(lit(l.level))))
        .collect();
    let needs: Vec<(String, Expr)> = rules
        .modules
        .iter()
        .map(|m| (format!("needs_{}", m.id), col(needs_column(&m.id))))
        .collect();

    let people = || col("__n").sum().cast(DataType::Float64);
    let round = |e: Expr| e.round(1, RoundMode::HalfAwayFromZero);
    let mut fine = vec![len().cast(DataType::UInt64).alias("__n")];
    let mut rollup = vec![col("__n").sum().cast(DataType::UInt32).alias("respondents")];
    let mut values = Vec::new();
    let shares = |list: Vec<(String, Expr)>,
                  fine: &mut Vec<Expr>,
                  rollup: &mut Vec<Expr>,
                  values: &mut Vec<String>| {
        for (name, condition) in list {
            let partial = format!("__{name}");
            fine.push(
                condition
                    .cast(DataType::UInt64)
                    .sum()
                    .alias(partial.as_str()),
            );
            rollup.push(
                round(col(partial.as_str()).sum().cast(DataType::Float64) / people() * lit(100.0))
                    .alias(name.as_str()),
            );
            values.push(name);
        }
    };
    shares(counted, &mut fine, &mut rollup, &mut values);
    // The mean score sits between the task shares and the levels, as in the table.
    fine.push(col(SCORE).sum().alias("__mean_score"));
    rollup.push(round(col("__mean_score").sum() / people()).alias("mean_score"));
    values.push("mean_score".to_owned());
    levels.extend(needs);
    shares(levels, &mut fine, &mut rollup, &mut values);
    (fine, rollup, values)
}

/// One table of several breakdowns (`breakdown` names the dimensions used; the others hold
/// [`ALL`]), with suppression applied.
fn breakdowns(
    rows: &LazyFrame,
    dimensions: &[&str],
    sets: &[&[&str]],
    aggs: &[Expr],
    values: &[String],
    count: &str,
    min_cell: u32,
) -> PolarsResult<DataFrame> {
    let mut parts = Vec::new();
    for set in sets {
        let name = if set.is_empty() {
            ALL.to_owned()
        } else {
            set.join("×")
        };
        let mut part = if set.is_empty() {
            rows.clone().select(aggs)
        } else {
            rows.clone()
                .group_by(set.iter().map(|d| col(*d)).collect::<Vec<_>>())
                .agg(aggs)
        };
        let mut fill = vec![lit(name).alias("breakdown")];
        for d in dimensions {
            if !set.contains(d) {
                fill.push(lit(ALL).alias(*d));
            }
        }
        part = part.with_columns(fill);
        let mut order = vec![col("breakdown")];
        order.extend(dimensions.iter().map(|d| col(*d)));
        order.push(col(count));
        order.extend(values.iter().map(|v| col(v.as_str())));
        parts.push(part.select(order));
    }
    let table = concat(parts, UnionArgs::default())?;
    suppress(table, dimensions, values, count, min_cell)?
        .sort(
            std::iter::once("breakdown")
                .chain(dimensions.iter().copied())
                .collect::<Vec<_>>(),
            SortMultipleOptions::default(),
        )
        .collect()
}

/// Blanks every cell of fewer than `min_cell` people, and where one blank cell could be worked
/// out from its margin (it is the only blank among cells that add up to a published total),
/// blanks the smallest other cell of that group too.
fn suppress(
    table: LazyFrame,
    dimensions: &[&str],
    values: &[String],
    count: &str,
    min_cell: u32,
) -> PolarsResult<LazyFrame> {
    let primary = col(count).lt(lit(min_cell));
    let table = table.with_column(primary.alias("__primary"));
    let mut secondary = lit(false);
    for d in dimensions {
        let mut group = vec![col("breakdown")];
        group.extend(dimensions.iter().filter(|o| *o != d).map(|o| col(*o)));
        let blanks = col("__primary")
            .cast(DataType::UInt32)
            .sum()
            .over(group.clone())?;
        let smallest_open = when(col("__primary").not())
            .then(col(count))
            .otherwise(null_of(DataType::UInt32))
            .min()
            .over(group)?;
        secondary = secondary.or(col(*d)
            .neq(lit(ALL))
            .and(col("__primary").not())
            .and(blanks.eq(lit(1u32)))
            .and(col(count).eq(smallest_open)));
    }
    let suppressed = col("__primary").or(secondary);
    let mut blanked = vec![
        when(suppressed.clone())
            .then(null_of(DataType::UInt32))
            .otherwise(col(count))
            .alias(count),
    ];
    for v in values {
        blanked.push(
            when(suppressed.clone())
                .then(null_of(DataType::Float64))
                .otherwise(col(v.as_str()))
                .alias(v.as_str()),
        );
    }
    Ok(table
        .with_column(suppressed.alias("suppressed"))
        .with_columns(blanked)
        .drop(cols(["__primary"])))
}

/// The dashboard tables from scored rows (see [`scored`]).
pub fn dashboards(scored: LazyFrame, rules: &Rules, period: Period) -> PolarsResult<Dashboards> {
    let rows = scored
        .with_column(period.of(col("surveyed_on")).alias("period"))
        .cache();
    let (fine, rollup, values) = indicator_aggregations(rules);
    let cells = rows
        .clone()
        .group_by([col("antenna"), col("age_band"), col("period")])
        .agg(fine)
        .cache();
    let indicators = breakdowns(
        &cells,
        &["antenna", "age_band", "period"],
        &[
            &[],
            &["antenna"],
            &["age_band"],
            &["period"],
            &["antenna", "period"],
            &["age_band", "period"],
        ],
        &rollup,
        &values,
        "respondents",
        rules.min_cell_size,
    )?;

    // Each person's first and last survey, for the people surveyed more than once (most are
    // surveyed once: they are set aside before sorting).
    let by_date = SortMultipleOptions::default();
    let people = rows
        .filter(len().over([col("respondent_id")])?.gt(lit(1)))
        .group_by([col("respondent_id")])
        .agg([
            len().alias("surveys"),
            col(LEVEL)
                .sort_by([col("surveyed_on")], by_date.clone())
                .first()
                .alias("level_first"),
            col(LEVEL)
                .sort_by([col("surveyed_on")], by_date.clone())
                .last()
                .alias("level_last"),
            col(SCORE)
                .sort_by([col("surveyed_on")], by_date.clone())
                .first()
                .alias("score_first"),
            col(SCORE)
                .sort_by([col("surveyed_on")], by_date.clone())
                .last()
                .alias("score_last"),
            col("antenna")
                .sort_by([col("surveyed_on")], by_date.clone())
                .last()
                .alias("antenna"),
            col("period")
                .sort_by([col("surveyed_on")], by_date)
                .last()
                .alias("period"),
        ])
        .filter(col("surveys").gt_eq(lit(2)));
    let gain =
        col("level_last").cast(DataType::Float64) - col("level_first").cast(DataType::Float64);
    let progress_aggs = vec![
        len().cast(DataType::UInt32).alias("resurveyed"),
        gain.clone()
            .mean()
            .round(2, RoundMode::HalfAwayFromZero)
            .alias("mean_level_gain"),
        (col("score_last") - col("score_first"))
            .mean()
            .round(1, RoundMode::HalfAwayFromZero)
            .alias("mean_score_gain"),
        share(gain.gt(lit(0.0))).alias("improved"),
        share(col("level_first").gt_eq(lit(3u8))).alias("nearly_autonomous_before"),
        share(col("level_last").gt_eq(lit(3u8))).alias("nearly_autonomous_after"),
    ];
    let progress_values: Vec<String> = [
        "mean_level_gain",
        "mean_score_gain",
        "improved",
        "nearly_autonomous_before",
        "nearly_autonomous_after",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let progress = breakdowns(
        &people,
        &["antenna", "period"],
        &[&[], &["antenna"], &["period"], &["antenna", "period"]],
        &progress_aggs,
        &progress_values,
        "resurveyed",
        rules.min_cell_size,
    )?;
    Ok(Dashboards {
        indicators,
        progress,
    })
}

/// Writes each table as CSV and Parquet under `dir` (each file replaced whole, never half
/// written). Returns the files written.
pub fn write_tables(
    dashboards: &Dashboards,
    dir: &Path,
) -> Result<Vec<std::path::PathBuf>, crate::error::Error> {
    let failed =
        |what: &'static str, path: &Path, e: &dyn std::fmt::Display| crate::error::Error::File {
            what,
            path: path.display().to_string(),
            reason: e.to_string(),
        };
    std::fs::create_dir_all(dir).map_err(|e| failed("create", dir, &e))?;
    let mut written = Vec::new();
    for (name, table) in dashboards.tables() {
        let mut table = table.clone();
        for (extension, csv) in [("csv", true), ("parquet", false)] {
            let path = dir.join(format!("{name}.{extension}"));
            let partial = dir.join(format!(".{name}.{extension}.partial"));
            let file =
                std::fs::File::create(&partial).map_err(|e| failed("write", &partial, &e))?;
            let result = if csv {
                CsvWriter::new(&file)
                    .include_header(true)
                    .finish(&mut table)
            } else {
                ParquetWriter::new(&file).finish(&mut table).map(|_| ())
            };
            result.map_err(|e| failed("write", &partial, &e))?;
            file.sync_all().map_err(|e| failed("write", &partial, &e))?;
            std::fs::rename(&partial, &path).map_err(|e| failed("write", &path, &e))?;
            written.push(path);
        }
    }
    Ok(written)
}
