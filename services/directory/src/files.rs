//! Reading and writing whole files in the schema: CSV (`,` or `;` separated, UTF-8 or the
//! Windows-1252 of French Excel exports, `|` between values), JSON (an array of objects; lists or
//! `|`-joined strings for multi-values) and GeoJSON (points, for maps).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::error::FileError;
use crate::schema::{COLUMNS, Parsed, Place, Rejection, parse_record};

/// The formats files come and go in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    GeoJson,
    /// data·inclusion's structures and services (export only).
    DataInclusion,
}

impl Format {
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "geojson" => Some(Format::GeoJson),
            "data-inclusion" | "datainclusion" | "data_inclusion" => Some(Format::DataInclusion),
            _ => None,
        }
    }
}

/// Text from bytes: UTF-8 (with or without BOM), else Windows-1252.
fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
    }
}

/// One parsed row: its line in the file (CSV: with the header as line 1; JSON: position from
/// 1), and a clean place with its warnings, or why the row is refused.
pub type ParsedRow = (usize, Result<Parsed, Rejection>);

/// Parses a file; `default_source` fills `source` where rows leave it empty.
pub fn read(
    format: Format,
    bytes: &[u8],
    default_source: &str,
) -> Result<Vec<ParsedRow>, FileError> {
    let mut rows = match format {
        Format::Csv => read_csv(bytes)?,
        Format::Json => read_json(bytes)?,
        Format::GeoJson | Format::DataInclusion => {
            return Err(FileError::ExportOnly);
        }
    };
    if !default_source.is_empty() {
        for Parsed { place, .. } in rows.iter_mut().filter_map(|(_, row)| row.as_mut().ok()) {
            if place.source.is_empty() {
                place.source = default_source.to_owned();
            }
        }
    }
    Ok(rows)
}

fn read_csv(bytes: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
    let text = decode(bytes);
    let first_line = text.lines().next().unwrap_or_default();
    let delimiter = if first_line.matches(';').count() > first_line.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| FileError::CsvHeader(e.to_string()))?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    for required in ["id", "nom", "adresse", "services"] {
        if !headers.iter().any(|h| h == required) {
            return Err(FileError::MissingColumn {
                missing: required,
                expected: COLUMNS.join(", "),
                found: headers.join(", "),
            });
        }
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                rows.push((
                    line,
                    Err(Rejection {
                        line,
                        field: String::new(),
                        value: String::new(),
                        reason: format!("the row does not read as CSV: {e}"),
                    }),
                ));
                continue;
            }
        };
        let values: HashMap<&str, &str> = headers
            .iter()
            .map(String::as_str)
            .zip(record.iter())
            .collect();
        let get = |field: &str| values.get(field).copied().unwrap_or_default().to_owned();
        rows.push((line, parse_record(line, &get)));
    }
    Ok(rows)
}

fn read_json(bytes: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
    let value: Value =
        serde_json::from_str(&decode(bytes)).map_err(|e| FileError::Json(e.to_string()))?;
    let Value::Array(items) = value else {
        return Err(FileError::NotAnArray);
    };
    Ok(items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let get = |field: &str| match item.get(field) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(values)) => values
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join("|"),
                Some(Value::Bool(b)) => {
                    if *b {
                        "Oui".into()
                    } else {
                        "Non".into()
                    }
                }
                Some(other) => other.to_string(),
            };
            (i + 1, parse_record(i + 1, &get))
        })
        .collect())
}

/// A place in the national schema's own JSON form, as the reference library
/// (`SchemaLieuMediationNumerique`) reads it: multi-values as one `|`-separated string,
/// coordinates as numbers, and fields without a value left out. (Import also takes arrays.)
fn json_of(place: &Place) -> Map<String, Value> {
    let mut object = Map::new();
    for column in COLUMNS {
        let text = place.column(column);
        let value = match column {
            "latitude" | "longitude" => match text.parse::<f64>() {
                Ok(v) => json!(v),
                Err(_) => continue,
            },
            "x_wifi_public" => json!(place.x_wifi_public),
            "x_postes_en_acces_libre" => json!(place.x_postes_en_acces_libre),
            _ if text.is_empty() => continue,
            _ => json!(text),
        };
        object.insert(column.to_owned(), value);
    }
    object
}

/// One place in JSON, as events carry it.
pub fn to_json(place: &Place) -> String {
    Value::Object(json_of(place)).to_string()
}

/// Writes places (sorted by id, so exports compare) in a format.
pub fn write(format: Format, places: &[&Place]) -> Result<Vec<u8>, FileError> {
    let write = |e: &dyn std::fmt::Display| FileError::Write(e.to_string());
    let mut places: Vec<&Place> = places.to_vec();
    places.sort_by(|a, b| a.id.cmp(&b.id));
    match format {
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer.write_record(COLUMNS).map_err(|e| write(&e))?;
            for place in places {
                writer
                    .write_record(COLUMNS.iter().map(|c| place.column(c)))
                    .map_err(|e| write(&e))?;
            }
            writer.into_inner().map_err(|e| write(&e))
        }
        Format::Json => {
            let array: Vec<Value> = places.iter().map(|p| Value::Object(json_of(p))).collect();
            serde_json::to_vec_pretty(&array).map_err(|e| write(&e))
        }
        Format::GeoJson => {
            let features: Vec<Value> = places
                .iter()
                .filter_map(|p| {
                    let (lat, lon) = (p.latitude?, p.longitude?);
                    Some(json!({
                        "type": "Feature",
                        "id": p.id,
                        "geometry": { "type": "Point", "coordinates": [lon, lat] },
                        "properties": Value::Object(json_of(p)),
                    }))
                })
                .collect();
            serde_json::to_vec(&json!({ "type": "FeatureCollection", "features": features }))
                .map_err(|e| write(&e))
        }
        Format::DataInclusion => {
            serde_json::to_vec_pretty(&crate::inclusion::write(&places)).map_err(|e| write(&e))
        }
    }
}

/// The JSON of an event back into a place (as it was saved: warnings were said then).
pub fn from_json(text: &str) -> Result<Place, FileError> {
    let rows = read_json(format!("[{text}]").as_bytes())?;
    rows.into_iter()
        .next()
        .ok_or_else(|| FileError::Place("empty".to_owned()))?
        .1
        .map(|parsed| parsed.place)
        .map_err(|r| FileError::Place(r.to_string()))
}
