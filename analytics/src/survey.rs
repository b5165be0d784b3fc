//! The survey format, read from CSV or Parquet with Polars and checked row by row.
//!
//! One row per respondent and survey day; extra columns are accepted and ignored:
//!
//! | column | accepted values |
//! |---|---|
//! | `respondent_id` | 1–64 characters among `A-Z a-z 0-9 . _ -` (a pseudonym, never a name) |
//! | `surveyed_on` | a date, `YYYY-MM-DD`, from 2000-01-01 to today (see [`latest_day`]) |
//! | `antenna` | `nord`, `sud`, `est`, `ouest`, `centre` |
//! | `age_band` | `16-24`, `25-39`, `40-59`, `60-74`, `75+` |
//! | `has_smartphone`, `has_computer`, `has_internet_home` | `yes`, `no` (also `oui`/`non`, `true`/`false`, `1`/`0`) |
//! | `email`, `online_procedure`, `tax_online`, `health_account`, `job_search`, `video_call`, `online_banking`, `spot_scam` | `cannot`, `with_help`, `alone` |
//!
//! Values are trimmed and their case ignored. A bad row is reported with its line, field, value
//! and what is accepted, and the good rows are kept. The same respondent answering twice on the
//! same day in one file keeps the first answer; the later ones are reported.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

pub const TASKS: &[&str] = &[
    "email",
    "online_procedure",
    "tax_online",
    "health_account",
    "job_search",
    "video_call",
    "online_banking",
    "spot_scam",
];
pub const EQUIPMENT: &[&str] = &["has_smartphone", "has_computer", "has_internet_home"];
pub const ANTENNAS: &[&str] = &["nord", "sud", "est", "ouest", "centre"];
pub const AGE_BANDS: &[&str] = &["16-24", "25-39", "40-59", "60-74", "75+"];
/// Answer codes are the positions in this list: 0 cannot, 1 with help, 2 alone.
pub const ANSWERS: &[&str] = &["cannot", "with_help", "alone"];
pub const ALONE: u8 = 2;
pub const CANNOT: u8 = 0;

/// Every column the format requires, in order.
pub fn columns() -> Vec<&'static str> {
    let mut all = vec!["respondent_id", "surveyed_on", "antenna", "age_band"];
    all.extend_from_slice(EQUIPMENT);
    all.extend_from_slice(TASKS);
    all
}

/// The line (or, in Parquet, row number) of each row, kept through validation.
pub const LINE: &str = "line";
const PROBLEMS: &str = "__problems";
/// Rejections described one by one; beyond, they are only counted by field.
pub const MAX_DESCRIBED: usize = 1_000;

/// The earliest date a survey may carry.
pub const EARLIEST: &str = "2000-01-01";
/// [`EARLIEST`] in days since 1970-01-01.
const EARLIEST_DAY: i32 = 10_957;

/// The latest date a survey may carry at Unix time `now`, in days since 1970-01-01: today where
/// the day starts first in France (Wallis-et-Futuna, UTC+12), so a survey made today anywhere
/// the service works — mainland, overseas — is never refused, and a date that has not begun
/// anywhere in France always is (it would become every later pathway's baseline and hide the
/// real re-surveys). On the mainland, the next day is accepted from noon UTC.
pub fn latest_day(now: i64) -> i32 {
    i32::try_from((now + 12 * 3600).div_euclid(86_400)).unwrap_or(i32::MAX)
}

#[derive(Debug, thiserror::Error)]
pub enum SurveyError {
    #[error("{0}")]
    Format(String),
    #[error("cannot read the survey: {0}")]
    Read(String),
}

impl From<PolarsError> for SurveyError {
    fn from(e: PolarsError) -> Self {
        SurveyError::Read(e.to_string())
    }
}

/// A bad value and what would have been accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub line: u64,
    pub field: String,
    pub value: String,
    pub accepted: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, {} `{}`: expected {}",
            self.line, self.field, self.value, self.accepted
        )
    }
}

/// What validation kept and what it refused.
#[derive(Debug)]
pub struct Checked {
    /// Good rows with their [`LINE`] (u64): dates as dates, yes/no as booleans, answers as
    /// codes (u8: 0 cannot, 1 with help, 2 alone), antenna and age band in canonical form.
    pub good: DataFrame,
    pub rejected_rows: usize,
    /// The first [`MAX_DESCRIBED`] problems, in line order.
    pub rejections: Vec<Rejection>,
    /// How many rows each field made refuse.
    pub by_field: BTreeMap<String, usize>,
}

/// What a field accepts, in words.
pub fn accepted(field: &str) -> String {
    match field {
        "respondent_id" => "1 to 64 characters among A-Z a-z 0-9 . _ -".into(),
        "surveyed_on" => {
            format!("a date as YYYY-MM-DD, from {EARLIEST} to today (not in the future)")
        }
        "antenna" => ANTENNAS.join(" | "),
        "age_band" => AGE_BANDS.join(" | "),
        f if EQUIPMENT.contains(&f) => "yes | no".into(),
        f if TASKS.contains(&f) => ANSWERS.join(" | "),
        _ => String::new(),
    }
}

/// Reads a survey file lazily, every column as text, numbering its lines.
pub fn scan(path: &Path) -> Result<LazyFrame, SurveyError> {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name = PlRefPath::try_from_path(path)?;
    let lf = match extension.as_str() {
        "csv" | "txt" => {
            let separator = sniff_separator(path)?;
            LazyCsvReader::new(name)
                .with_has_header(true)
                .with_separator(separator)
                .with_infer_schema_length(Some(0))
                .with_encoding(CsvEncoding::LossyUtf8)
                .with_missing_is_null(true)
                .with_row_index(Some(RowIndex {
                    name: LINE.into(),
                    // Line 1 is the header.
                    offset: 2,
                }))
                .finish()?
        }
        "parquet" | "pq" => {
            check_parquet_layout(path)?;
            let args = ScanArgsParquet {
                row_index: Some(RowIndex {
                    name: LINE.into(),
                    offset: 1,
                }),
                ..ScanArgsParquet::default()
            };
            LazyFrame::scan_parquet(name, args)?
        }
        other => {
            return Err(SurveyError::Format(format!(
                "{}: format `{other}` is not known: expected a .csv or .parquet file",
                path.display()
            )));
        }
    };
    Ok(lf)
}

/// Reads and checks a survey file: [`scan`] then [`check`], with Polars' own failures on a
/// damaged file (it asserts on some malformed pages rather than return an error) turned into
/// a refusal of the file instead of a crash.
pub fn read_checked(path: &Path, latest_day: i32) -> Result<Checked, SurveyError> {
    std::panic::catch_unwind(|| scan(path).and_then(|raw| check(raw, latest_day))).unwrap_or_else(
        |_| {
            Err(SurveyError::Format(format!(
                "{}: this file is damaged and cannot be read: export it again",
                path.display()
            )))
        },
    )
}

/// Refuses a Parquet file whose footer points outside the file. Polars trusts those byte
/// ranges when it reads row groups from memory (unchecked slicing: a damaged or hostile file
/// would crash the process, found by the property tests), so they are checked here first,
/// from the footer alone.
fn check_parquet_layout(path: &Path) -> Result<(), SurveyError> {
    let read = |e: &dyn std::fmt::Display| SurveyError::Read(format!("{}: {e}", path.display()));
    let size = std::fs::metadata(path).map_err(|e| read(&e))?.len();
    let file = std::fs::File::open(path).map_err(|e| read(&e))?;
    let mut reader = ParquetReader::new(file);
    let metadata = reader.get_metadata().map_err(|e| {
        SurveyError::Format(format!(
            "{}: not a readable Parquet file ({e}): expected a .csv or .parquet survey",
            path.display()
        ))
    })?;
    for group in &metadata.row_groups {
        let whole = group.full_byte_range();
        let inside = |r: &std::ops::Range<u64>| r.start <= r.end && r.end <= size;
        if !inside(&whole) || !group.byte_ranges_iter().all(|r| inside(&r)) {
            return Err(SurveyError::Format(format!(
                "{}: this Parquet file is damaged (its index points past its end, {size} bytes): export it again",
                path.display()
            )));
        }
    }
    Ok(())
}

/// `;` (French spreadsheet exports) or `,`, whichever the header uses.
fn sniff_separator(path: &Path) -> Result<u8, SurveyError> {
    use std::io::BufRead as _;
    let file = std::fs::File::open(path)
        .map_err(|e| SurveyError::Read(format!("{}: {e}", path.display())))?;
    let mut header = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut header)
        .map_err(|e| SurveyError::Read(format!("{}: {e}", path.display())))?;
    let commas = header.matches(',').count();
    let semicolons = header.matches(';').count();
    Ok(if semicolons > commas { b';' } else { b',' })
}

/// A frame of text answers (for one response recorded over gRPC, say), numbered from 1.
pub fn from_text(rows: &[BTreeMap<String, String>]) -> Result<LazyFrame, SurveyError> {
    let mut columns = Vec::new();
    for name in self::columns() {
        let values: Vec<Option<&str>> = rows
            .iter()
            .map(|r| r.get(name).map(String::as_str))
            .collect();
        columns.push(Column::new(name.into(), values));
    }
    let df = DataFrame::new_infer_height(columns)?;
    Ok(df.lazy().with_row_index(LINE, Some(1)))
}

/// Reads a text column value by value through `decode`, each distinct value decoded once:
/// survey columns hold a handful of distinct spellings over millions of rows.
fn decoded<T: Copy + 'static>(
    expr: Expr,
    decode: fn(&str) -> Option<T>,
    dtype: DataType,
    build: fn(PlSmallStr, Vec<Option<T>>) -> Column,
) -> Expr {
    let output = dtype.clone();
    expr.cast(DataType::String).map(
        move |column: Column| {
            let values = column.str()?;
            let mut seen: std::collections::HashMap<&str, Option<T>> =
                std::collections::HashMap::new();
            let out: Vec<Option<T>> = values
                .iter()
                .map(|v| v.and_then(|v| *seen.entry(v).or_insert_with(|| decode(v))))
                .collect();
            Ok(build(column.name().clone(), out))
        },
        move |_, field| Ok(Field::new(field.name().clone(), output.clone())),
    )
}

fn u8_column(name: PlSmallStr, values: Vec<Option<u8>>) -> Column {
    Column::new(name, values)
}

fn bool_column(name: PlSmallStr, values: Vec<Option<bool>>) -> Column {
    Column::new(name, values)
}

fn str_column(name: PlSmallStr, values: Vec<Option<&'static str>>) -> Column {
    Column::new(name, values)
}

/// `cannot` → 0, `with_help` (`With help`, `with-help`) → 1, `alone` → 2.
pub fn decode_answer(raw: &str) -> Option<u8> {
    let key = raw.trim().to_lowercase().replace([' ', '-'], "_");
    ANSWERS
        .iter()
        .position(|a| *a == key)
        .and_then(|i| u8::try_from(i).ok())
}

pub fn decode_yes_no(raw: &str) -> Option<bool> {
    match raw.trim().to_lowercase().as_str() {
        "yes" | "oui" | "true" | "1" | "y" | "o" => Some(true),
        "no" | "non" | "false" | "0" | "n" => Some(false),
        _ => None,
    }
}

pub fn decode_antenna(raw: &str) -> Option<&'static str> {
    let key = raw.trim().to_lowercase();
    ANTENNAS.iter().copied().find(|a| *a == key)
}

pub fn decode_age_band(raw: &str) -> Option<&'static str> {
    let key: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    AGE_BANDS.iter().copied().find(|a| *a == key)
}

fn typed(field: &str, latest_day: i32) -> Expr {
    match field {
        "respondent_id" => {
            let id = col(field)
                .cast(DataType::String)
                .str()
                .strip_chars(lit(NULL));
            when(
                id.clone()
                    .str()
                    .contains(lit(r"^[A-Za-z0-9._-]{1,64}$"), true),
            )
            .then(id)
            .otherwise(lit(NULL).cast(DataType::String))
        }
        "surveyed_on" => {
            let date = col(field)
                .cast(DataType::String)
                .str()
                .strip_chars(lit(NULL))
                .str()
                .to_date(StrptimeOptions {
                    format: Some("%Y-%m-%d".into()),
                    strict: false,
                    exact: true,
                    cache: true,
                });
            let day = date.clone().cast(DataType::Int32);
            when(
                day.clone()
                    .gt(lit(latest_day))
                    .or(day.lt(lit(EARLIEST_DAY))),
            )
            .then(lit(NULL).cast(DataType::Date))
            .otherwise(date)
        }
        "antenna" => decoded(col(field), decode_antenna, DataType::String, str_column),
        "age_band" => decoded(col(field), decode_age_band, DataType::String, str_column),
        f if EQUIPMENT.contains(&f) => {
            decoded(col(field), decode_yes_no, DataType::Boolean, bool_column)
        }
        _ => decoded(col(field), decode_answer, DataType::UInt8, u8_column),
    }
}

/// Checks a frame of text answers: the required columns must be there; each row is kept,
/// typed, or refused with the reason. Dates after `latest_day` (see [`latest_day`]) are refused.
pub fn check(raw: LazyFrame, latest_day: i32) -> Result<Checked, SurveyError> {
    let mut raw = raw;
    let schema = raw.collect_schema()?;
    let missing: Vec<&str> = columns()
        .into_iter()
        .filter(|c| !schema.contains(c))
        .collect();
    if !missing.is_empty() {
        return Err(SurveyError::Format(format!(
            "the survey lacks the column(s) {}: expected a header with {}",
            missing.join(", "),
            columns().join(", ")
        )));
    }
    let fields = columns();
    // One bit per field whose value is not accepted.
    let mut problems = lit(0u32);
    let mut selected = vec![col(LINE).cast(DataType::UInt64)];
    for (bit, field) in fields.iter().enumerate() {
        let value = typed(field, latest_day);
        problems = problems
            + when(value.clone().is_null())
                .then(lit(1u32 << bit))
                .otherwise(lit(0u32));
        selected.push(value.alias(*field));
    }
    selected.push(problems.cast(DataType::UInt32).alias(PROBLEMS));
    let all = raw.clone().select(selected).collect()?;

    let bad = all
        .clone()
        .lazy()
        .filter(col(PROBLEMS).neq(lit(0u32)))
        .select([col(LINE), col(PROBLEMS)])
        .collect()?;
    let good = all
        .lazy()
        .filter(col(PROBLEMS).eq(lit(0u32)))
        .drop(cols([PROBLEMS]))
        // A second answer of the same respondent on the same day (within this file).
        .with_column(
            col(LINE)
                .min()
                .over([col("respondent_id"), col("surveyed_on")])?
                .alias("__first"),
        )
        .collect()?;
    let repeated = good
        .clone()
        .lazy()
        .filter(col(LINE).neq(col("__first")))
        .select([
            col(LINE),
            col("respondent_id"),
            col("surveyed_on"),
            col("__first"),
        ])
        .collect()?;
    let good = good
        .lazy()
        .filter(col(LINE).eq(col("__first")))
        .drop(cols(["__first"]))
        .collect()?;

    let mut by_field: BTreeMap<String, usize> = BTreeMap::new();
    let mut rejections = Vec::new();
    let lines = bad.column(LINE)?.u64()?;
    let masks = bad.column(PROBLEMS)?.u32()?;
    for (line, mask) in lines.iter().zip(masks.iter()) {
        let (Some(line), Some(mask)) = (line, mask) else {
            continue;
        };
        for (bit, field) in fields.iter().enumerate() {
            if mask & (1 << bit) != 0 {
                *by_field.entry((*field).to_owned()).or_default() += 1;
                if rejections.len() < MAX_DESCRIBED {
                    rejections.push(Rejection {
                        line,
                        field: (*field).to_owned(),
                        value: String::new(),
                        accepted: accepted(field),
                    });
                }
            }
        }
    }
    // The bad values themselves, for the rows described.
    if !rejections.is_empty() {
        let wanted: Vec<u64> = rejections.iter().map(|r| r.line).collect();
        let wanted = Series::new("wanted".into(), wanted);
        let values = raw
            .filter(
                col(LINE)
                    .cast(DataType::UInt64)
                    .is_in(lit(wanted).implode(false), false),
            )
            .select(
                std::iter::once(col(LINE).cast(DataType::UInt64))
                    .chain(fields.iter().map(|f| col(*f).cast(DataType::String)))
                    .collect::<Vec<_>>(),
            )
            .collect()?;
        let mut by_line: BTreeMap<u64, usize> = BTreeMap::new();
        for (i, line) in values.column(LINE)?.u64()?.iter().enumerate() {
            if let Some(line) = line {
                by_line.insert(line, i);
            }
        }
        for r in &mut rejections {
            if let Some(i) = by_line.get(&r.line) {
                let column = values.column(&r.field)?.str()?;
                r.value = column.get(*i).unwrap_or("").to_owned();
            }
        }
    }
    let rejected_rows = bad.height() + repeated.height();
    if repeated.height() > 0 {
        *by_field.entry("respondent_id".into()).or_default() += repeated.height();
        let ids = repeated.column("respondent_id")?.str()?;
        let days = repeated.column("surveyed_on")?.cast(&DataType::String)?;
        let days = days.str()?;
        let lines = repeated.column(LINE)?.u64()?;
        let firsts = repeated.column("__first")?.u64()?;
        for i in 0..repeated.height() {
            if rejections.len() >= MAX_DESCRIBED {
                break;
            }
            rejections.push(Rejection {
                line: lines.get(i).unwrap_or(0),
                field: "respondent_id".into(),
                value: format!(
                    "{} on {}",
                    ids.get(i).unwrap_or(""),
                    days.get(i).unwrap_or("")
                ),
                accepted: format!(
                    "one answer per respondent and day (the first, line {}, is kept)",
                    firsts.get(i).unwrap_or(0)
                ),
            });
        }
    }
    rejections.sort_by(|a, b| (a.line, &a.field).cmp(&(b.line, &b.field)));
    Ok(Checked {
        good,
        rejected_rows,
        rejections,
        by_field,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_whatever_their_spelling() {
        assert_eq!(decode_answer(" With help "), Some(1));
        assert_eq!(decode_answer("with-help"), Some(1));
        assert_eq!(decode_answer("ALONE"), Some(2));
        assert_eq!(decode_answer("sometimes"), None);
        assert_eq!(decode_yes_no(" Oui"), Some(true));
        assert_eq!(decode_yes_no("false"), Some(false));
        assert_eq!(decode_yes_no("maybe"), None);
        assert_eq!(decode_antenna(" Centre "), Some("centre"));
        assert_eq!(decode_antenna("plateau"), None);
        assert_eq!(decode_age_band("75 +"), Some("75+"));
        assert_eq!(decode_age_band("16 - 24"), Some("16-24"));
        assert_eq!(decode_age_band("90+"), None);
    }
}
