//! Files from outside, generated and mutated by the thousand: the importer never panics, and
//! every file or row it refuses says why. `PROPTEST_CASES` sets how many (a few hundred in the
//! test suite, thousands in `scripts/fuzz.sh`).
#![allow(clippy::unwrap_used)]

use passerelle_directory::files::{self, Format};
use proptest::prelude::*;

use passerelle_core::testing::proptest_config as cases;

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

/// A file changed the way files get damaged: bytes flipped, cut, inserted.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    prop::collection::vec((0..len.max(1), any::<u8>(), 0u8..3), 1..12).prop_map(move |edits| {
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

/// A field of the national schema given any text, the rest of the row valid.
fn one_field_changed() -> impl Strategy<Value = Vec<u8>> {
    let csv = String::from_utf8(sample("lieux-amiens.csv")).unwrap();
    let header: Vec<String> = csv
        .lines()
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let columns = header.len();
    (0..columns, ".{0,40}").prop_map(move |(column, value)| {
        let mut out = header.join(",");
        out.push('\n');
        let row: Vec<String> = (0..columns)
            .map(|c| {
                if c == column {
                    format!("\"{}\"", value.replace('"', "\"\""))
                } else {
                    String::new()
                }
            })
            .collect();
        out.push_str(&row.join(","));
        out.into_bytes()
    })
}

fn check(format: Format, bytes: &[u8]) {
    match files::read(format, bytes, "fuzz") {
        Ok(rows) => {
            for (_, row) in rows {
                if let Err(rejection) = row {
                    assert!(!rejection.reason.is_empty(), "{rejection:?}");
                }
            }
        }
        Err(why) => assert!(!why.to_string().is_empty()),
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn any_bytes_as_csv_or_json(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(Format::Csv, &bytes);
        check(Format::Json, &bytes);
        check(Format::GeoJson, &bytes);
    }

    #[test]
    fn damaged_csv_files(bytes in mutated(sample("lieux-amiens.csv"))) {
        check(Format::Csv, &bytes);
    }

    #[test]
    fn damaged_messy_files(bytes in mutated(sample("lieux-messy.csv"))) {
        check(Format::Csv, &bytes);
    }

    #[test]
    fn any_value_in_any_field(bytes in one_field_changed()) {
        check(Format::Csv, &bytes);
    }

    #[test]
    fn damaged_json_exports(bytes in mutated({
        let rows = files::read(Format::Csv, &sample("lieux-amiens.csv"), "x").unwrap();
        let places: Vec<_> = rows.into_iter().filter_map(|(_, r)| r.ok().map(|p| p.place)).collect();
        files::write(Format::Json, &places.iter().collect::<Vec<_>>()).unwrap()
    })) {
        check(Format::Json, &bytes);
    }

    #[test]
    fn any_place_event(text in ".{0,300}") {
        let _ = files::from_json(&text);
    }
}
