//! Survey files from outside, damaged and made up: the checker reads them or says what is
//! wrong — never panics, never reports a row without its reason. Polars reads every file, so
//! a panic in it would be caught here too. `PROPTEST_CASES` sets how many files.
#![allow(clippy::unwrap_used)]

use passerelle_analytics::{survey, synthetic};
use polars::prelude::*;
use proptest::prelude::*;

use passerelle_core::testing::proptest_config as cases;

fn valid_csv() -> Vec<u8> {
    let mut frame = synthetic::frame(0, 40, 40, 7).unwrap();
    let mut out = Vec::new();
    CsvWriter::new(&mut out).finish(&mut frame).unwrap();
    out
}

fn valid_parquet() -> Vec<u8> {
    let mut frame = synthetic::frame(0, 40, 40, 7).unwrap();
    let mut out = Vec::new();
    ParquetWriter::new(&mut out).finish(&mut frame).unwrap();
    out
}

fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    prop::collection::vec((0..len, any::<u8>(), 0u8..3), 1..10).prop_map(move |edits| {
        let mut bytes = base.clone();
        for (at, byte, kind) in edits {
            let at = at.min(bytes.len().saturating_sub(1));
            match kind {
                0 if !bytes.is_empty() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => bytes.truncate(at.max(1)),
            }
        }
        bytes
    })
}

/// Reads `bytes` as a survey file named `name`: a refusal or checked rows, each rejection with
/// its field and what is accepted.
fn check(name: &str, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    // Polars runs inside: whatever it does with a damaged file must come back as a value.
    match survey::read_checked(&path, today()) {
        Ok(checked) => {
            for rejection in &checked.rejections {
                assert!(
                    !rejection.field.is_empty() && !rejection.accepted.is_empty(),
                    "{rejection:?}"
                );
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

proptest! {
    #![proptest_config(cases(48))]

    #[test]
    fn damaged_csv_surveys(bytes in mutated(valid_csv())) {
        check("survey.csv", &bytes);
    }

    #[test]
    fn any_bytes_as_a_survey(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        check("survey.csv", &bytes);
        check("survey.parquet", &bytes);
    }

    #[test]
    fn damaged_parquet_surveys(bytes in mutated(valid_parquet())) {
        check("survey.parquet", &bytes);
    }
}

/// The latest survey date accepted now.
fn today() -> i32 {
    use passerelle_kit::clock::{Clock, SystemClock};
    survey::latest_day(SystemClock.now())
}
