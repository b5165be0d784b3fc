//! The vault's types and rules: document kinds, dates, what content is accepted.

use passerelle_kit::ServiceError;
use serde::{Deserialize, Serialize};
use time::Date;
use time::macros::format_description;

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::InvalidArgument(message.into())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    IdentityCard,
    Passport,
    ResidencePermit,
    CarteVitale,
    TaxNotice,
    FranceTravailCertificate,
    CafCertificate,
    ProofOfAddress,
    Domiciliation,
    Cv,
    Payslip,
    Other,
}

impl DocumentType {
    pub const ALL: [DocumentType; 12] = [
        DocumentType::IdentityCard,
        DocumentType::Passport,
        DocumentType::ResidencePermit,
        DocumentType::CarteVitale,
        DocumentType::TaxNotice,
        DocumentType::FranceTravailCertificate,
        DocumentType::CafCertificate,
        DocumentType::ProofOfAddress,
        DocumentType::Domiciliation,
        DocumentType::Cv,
        DocumentType::Payslip,
        DocumentType::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentType::IdentityCard => "identity_card",
            DocumentType::Passport => "passport",
            DocumentType::ResidencePermit => "residence_permit",
            DocumentType::CarteVitale => "carte_vitale",
            DocumentType::TaxNotice => "tax_notice",
            DocumentType::FranceTravailCertificate => "france_travail_certificate",
            DocumentType::CafCertificate => "caf_certificate",
            DocumentType::ProofOfAddress => "proof_of_address",
            DocumentType::Domiciliation => "domiciliation",
            DocumentType::Cv => "cv",
            DocumentType::Payslip => "payslip",
            DocumentType::Other => "other",
        }
    }

    pub fn parse(name: &str) -> Option<DocumentType> {
        DocumentType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// In French, as the owner reads it.
    pub fn label_fr(self) -> &'static str {
        match self {
            DocumentType::IdentityCard => "carte d'identité",
            DocumentType::Passport => "passeport",
            DocumentType::ResidencePermit => "titre de séjour",
            DocumentType::CarteVitale => "carte Vitale",
            DocumentType::TaxNotice => "avis d'imposition",
            DocumentType::FranceTravailCertificate => "attestation France Travail",
            DocumentType::CafCertificate => "attestation CAF",
            DocumentType::ProofOfAddress => "justificatif de domicile",
            DocumentType::Domiciliation => "attestation de domiciliation",
            DocumentType::Cv => "CV",
            DocumentType::Payslip => "bulletin de salaire",
            DocumentType::Other => "autre document",
        }
    }
}

/// A calendar date, `YYYY-MM-DD`.
pub fn parse_date(field: &str, raw: &str) -> Result<Option<Date>, ServiceError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let date = Date::parse(raw, format_description!("[year]-[month]-[day]")).map_err(|_| {
        invalid(format!(
            "{field} `{raw}` is not a date: expected YYYY-MM-DD, e.g. 2027-03-31"
        ))
    })?;
    // Papers are dated within a few lifetimes of now; far dates would only overflow reminders.
    if !(1900..=2200).contains(&date.year()) {
        return Err(invalid(format!(
            "{field} `{raw}` is out of range: expected a year from 1900 to 2200"
        )));
    }
    Ok(Some(date))
}

pub fn format_date(date: Option<Date>) -> String {
    date.map(|d| {
        d.format(format_description!("[year]-[month]-[day]"))
            .unwrap_or_default()
    })
    .unwrap_or_default()
}

/// Free text with a length limit and no control characters (newlines allowed in notes).
pub fn parse_text(
    field: &str,
    raw: &str,
    max: usize,
    multiline: bool,
) -> Result<String, ServiceError> {
    let text = raw.trim();
    let bad = text
        .chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t')));
    if text.chars().count() > max || bad {
        return Err(invalid(format!(
            "{field} is not accepted: expected at most {max} characters without control characters"
        )));
    }
    Ok(text.to_owned())
}

/// A document as the store keeps it (its bytes live in object storage, sealed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    pub owner_id: String,
    pub kind: DocumentType,
    /// Never stored as it is: the title and notes say whose papers these are ("titre de
    /// séjour de Mme …"), so they are sealed with the vault key in `sealed_meta` and go with
    /// it when the vault is erased, copies and backups included.
    #[serde(skip)]
    pub title: String,
    pub folder: String,
    pub content_type: String,
    pub size: u64,
    pub content_hash: String,
    /// SHA-256 of each part's plaintext, checked as the part is read.
    pub part_hashes: Vec<String>,
    pub issued_on: Option<Date>,
    pub expires_on: Option<Date>,
    pub obsolete: bool,
    pub private: bool,
    #[serde(skip)]
    pub notes: String,
    /// The title and notes, sealed with the vault key (see `title`).
    #[serde(default)]
    pub sealed_meta: Vec<u8>,
    pub created_at: i64,
    pub created_by: String,
    /// The data key, wrapped with the vault key.
    pub wrapped_key: Vec<u8>,
    /// Set once the expiry reminder went out.
    #[serde(default)]
    pub expiry_announced: bool,
}

impl Document {
    pub fn parts(&self) -> usize {
        self.part_hashes.len()
    }
}

/// What may be stored: PDFs, photos and scans, office documents. Decided from the bytes, not
/// from what the client claims.
pub fn sniff(head: &[u8]) -> Result<&'static str, ServiceError> {
    const ACCEPTED: [&str; 14] = [
        "application/pdf",
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/heif",
        "image/avif",
        "image/tiff",
        "image/gif",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/msword",
    ];
    let kind = infer::get(head);
    match kind.map(|k| k.mime_type()) {
        Some(mime) => ACCEPTED
            .iter()
            .find(|a| **a == mime)
            .copied()
            .ok_or_else(|| refused(mime)),
        None => Err(refused("unknown")),
    }
}

fn refused(what: &str) -> ServiceError {
    invalid(format!(
        "this file is {what}: accepted are PDF, photos and scans (JPEG, PNG, WebP, HEIC, TIFF, GIF) and office documents (Word, Excel, PowerPoint, LibreOffice)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_judged_by_its_bytes() {
        assert_eq!(sniff(b"%PDF-1.7\n%\xe2\xe3").unwrap(), "application/pdf");
        assert_eq!(
            sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00").unwrap(),
            "image/jpeg"
        );
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR").unwrap(),
            "image/png"
        );
        let exe = sniff(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00")
            .unwrap_err()
            .to_string();
        assert!(
            exe.contains("application/vnd.microsoft.portable-executable")
                && exe.contains("accepted are PDF"),
            "{exe}"
        );
        assert!(
            sniff(b"just some text")
                .unwrap_err()
                .to_string()
                .contains("this file is unknown")
        );
    }

    #[test]
    fn dates_and_texts() {
        assert_eq!(
            format_date(parse_date("expires_on", "2027-03-31").unwrap()),
            "2027-03-31"
        );
        assert_eq!(parse_date("expires_on", " ").unwrap(), None);
        let err = parse_date("expires_on", "31/03/2027")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected YYYY-MM-DD"), "{err}");
        assert!(parse_text("title", &"x".repeat(201), 200, false).is_err());
        assert_eq!(parse_text("notes", " a\nb ", 200, true).unwrap(), "a\nb");
        assert!(parse_text("title", "a\nb", 200, false).is_err());
        for t in DocumentType::ALL {
            assert_eq!(DocumentType::parse(t.as_str()), Some(t));
        }
    }
}
