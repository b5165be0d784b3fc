//! Procedure checklists: which documents a procedure needs, and what the vault lacks. The lists
//! are data (`data/procedures.json`, or the file given with `--procedures-file`), versioned with
//! the code, so a social worker can read and amend them without touching a program.

use crate::error::SetupError;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::domain::{Document, DocumentType};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    pub id: String,
    pub label: String,
    pub accepted_types: Vec<DocumentType>,
    /// Documents older than this (by issue date, else by upload date) do not count.
    #[serde(default)]
    pub max_age_days: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Procedure {
    pub id: String,
    pub title: String,
    pub requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, Deserialize)]
struct Catalogue {
    version: u32,
    procedures: Vec<Procedure>,
}

/// The built-in catalogue.
pub const DEFAULT: &str = include_str!("../data/procedures.json");

/// Parses a catalogue, saying where it is wrong.
pub fn load(json: &str) -> Result<Vec<Procedure>, SetupError> {
    let catalogue: Catalogue =
        serde_json::from_str(json).map_err(|e| SetupError::ProceduresSyntax(e.to_string()))?;
    if catalogue.version != 1 {
        return Err(SetupError::ProceduresVersion(catalogue.version));
    }
    for p in &catalogue.procedures {
        if p.requirements.iter().any(|r| r.accepted_types.is_empty()) {
            return Err(SetupError::ProcedureAcceptsNothing(p.id.clone()));
        }
    }
    Ok(catalogue.procedures)
}

/// Where a requirement stands in a vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Missing,
    Expired,
    Obsolete,
    TooOld,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Missing => "missing",
            Status::Expired => "expired",
            Status::Obsolete => "obsolete",
            Status::TooOld => "too_old",
        }
    }

    /// What to do, in plain French.
    pub fn advice(self, requirement: &Requirement) -> String {
        match self {
            Status::Ok => "C'est bon.".into(),
            Status::Missing => format!("Il manque : {}.", requirement.label.to_lowercase()),
            Status::Expired => "Le document est périmé : il faut le renouveler.".into(),
            Status::Obsolete => {
                "Le document a été remplacé : il faut ajouter le plus récent.".into()
            }
            Status::TooOld => format!(
                "Le document est trop ancien (plus de {} jours) : il en faut un plus récent.",
                requirement.max_age_days
            ),
        }
    }
}

/// The best document for `requirement` among `documents` on `today`, and its status.
pub fn evaluate<'a>(
    requirement: &Requirement,
    documents: &'a [Document],
    today: Date,
) -> (Status, Option<&'a Document>) {
    let rank = |doc: &Document| -> Status {
        if doc.obsolete {
            return Status::Obsolete;
        }
        if doc.expires_on.is_some_and(|d| d < today) {
            return Status::Expired;
        }
        if requirement.max_age_days > 0 {
            let issued = doc.issued_on.unwrap_or_else(|| {
                time::OffsetDateTime::from_unix_timestamp(doc.created_at)
                    .map_or(today, |t| t.date())
            });
            if (today - issued).whole_days() > i64::from(requirement.max_age_days) {
                return Status::TooOld;
            }
        }
        Status::Ok
    };
    let order = |s: Status| match s {
        Status::Ok => 0,
        Status::TooOld => 1,
        Status::Expired => 2,
        Status::Obsolete => 3,
        Status::Missing => 4,
    };
    documents
        .iter()
        .filter(|d| requirement.accepted_types.contains(&d.kind))
        .map(|d| (rank(d), d))
        .min_by_key(|(s, d)| (order(*s), std::cmp::Reverse(d.created_at)))
        .map_or((Status::Missing, None), |(s, d)| (s, Some(d)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn doc(
        kind: DocumentType,
        issued: Option<Date>,
        expires: Option<Date>,
        obsolete: bool,
    ) -> Document {
        Document {
            id: format!("{}-{issued:?}", kind.as_str()),
            owner_id: "o".into(),
            kind,
            title: String::new(),
            sealed_meta: Vec::new(),
            folder: String::new(),
            content_type: "application/pdf".into(),
            size: 1,
            content_hash: String::new(),
            part_hashes: vec![],
            issued_on: issued,
            expires_on: expires,
            obsolete,
            private: false,
            notes: String::new(),
            created_at: 1_700_000_000,
            created_by: "o".into(),
            wrapped_key: vec![],
            expiry_announced: false,
        }
    }

    #[test]
    fn the_built_in_catalogue_loads_and_bad_files_say_why() {
        let procedures = load(DEFAULT).unwrap();
        assert!(procedures.iter().any(|p| p.id == "rsa"));
        assert!(
            load("{}")
                .unwrap_err()
                .to_string()
                .contains("expected {\"version\": 1")
        );
        assert!(
            load(r#"{"version":2,"procedures":[]}"#)
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
    }

    #[test]
    fn each_requirement_finds_its_best_document() {
        let rsa = load(DEFAULT)
            .unwrap()
            .into_iter()
            .find(|p| p.id == "rsa")
            .unwrap();
        let today = date!(2026 - 11 - 22);
        let documents = vec![
            doc(
                DocumentType::IdentityCard,
                None,
                Some(date!(2026 - 01 - 01)),
                false,
            ),
            doc(
                DocumentType::Passport,
                None,
                Some(date!(2030 - 01 - 01)),
                false,
            ),
            doc(
                DocumentType::ProofOfAddress,
                Some(date!(2026 - 01 - 10)),
                None,
                false,
            ),
            doc(
                DocumentType::TaxNotice,
                Some(date!(2025 - 09 - 01)),
                None,
                true,
            ),
        ];
        let status = |id: &str| {
            let r = rsa.requirements.iter().find(|r| r.id == id).unwrap();
            evaluate(r, &documents, today).0
        };
        assert_eq!(
            status("identity"),
            Status::Ok,
            "the valid passport wins over the expired card"
        );
        assert_eq!(status("address"), Status::TooOld);
        assert_eq!(status("health"), Status::Missing);
        assert_eq!(status("tax"), Status::Obsolete);
    }
}
