//! Identity's types and rules, with no gRPC and no storage engine: values are parsed into
//! these types at the edge, so invalid input never reaches the rules.

use passerelle_kit::ServiceError;
use passerelle_kit::auth::Role;
use serde::{Deserialize, Serialize};

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::InvalidArgument(message.into())
}

/// A sign-in name: 3 to 32 characters among lowercase letters, digits, `.`, `-` and `_`,
/// starting with a letter. Stored lowercase, so `Marie.Dupont` and `marie.dupont` are one name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, ServiceError> {
        let name = raw.trim().to_lowercase();
        let ok = (3..=32).contains(&name.chars().count())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_')
            });
        if ok {
            Ok(Self(name))
        } else {
            Err(invalid(format!(
                "username `{raw}` is not accepted: expected 3 to 32 characters, a letter first, then letters without accents, digits, `.`, `-` or `_`"
            )))
        }
    }

    /// An easy name to read out and type: two common French words and four digits, e.g.
    /// `soleil-lavande-4821`. There are 48 × 48 × 10,000 = 23 million of them, so names
    /// cannot be listed to try a common PIN on each (password spraying): of a city's few
    /// thousand accounts, a guessed name hits one about once in several thousand tries.
    pub fn generate() -> Result<Self, ServiceError> {
        const WORDS: [&str; 48] = [
            "soleil",
            "jardin",
            "riviere",
            "montagne",
            "etoile",
            "nuage",
            "foret",
            "prairie",
            "colline",
            "ocean",
            "printemps",
            "automne",
            "lumiere",
            "horizon",
            "olivier",
            "tilleul",
            "mimosa",
            "cerise",
            "abeille",
            "hirondelle",
            "campagne",
            "fontaine",
            "lavande",
            "violette",
            "pommier",
            "rosier",
            "chemin",
            "vallon",
            "ruisseau",
            "plage",
            "falaise",
            "bruyere",
            "noisette",
            "myrtille",
            "papillon",
            "mesange",
            "renard",
            "castor",
            "dauphin",
            "baleine",
            "tournesol",
            "coquelicot",
            "muguet",
            "jonquille",
            "bouleau",
            "platane",
            "sapin",
            "erable",
        ];
        let n = u64::from_le_bytes(passerelle_kit::secrets::random::<8>()?);
        let first = WORDS[(n % 48) as usize];
        let second = WORDS[((n / 48) % 48) as usize];
        Ok(Self(format!("{first}-{second}-{:04}", (n / 2304) % 10_000)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a person signs in with: a password of 8 to 128 characters, or a PIN of exactly 6
/// digits (for people who find passwords hard; brute-force protection keeps it safe).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    is_pin: bool,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_pin {
            "Secret(PIN …)"
        } else {
            "Secret(password …)"
        })
    }
}

impl Secret {
    pub fn parse(raw: &str) -> Result<Self, ServiceError> {
        let all_digits = !raw.is_empty() && raw.chars().all(|c| c.is_ascii_digit());
        if all_digits && raw.len() == 6 {
            if is_weak_pin(raw) {
                return Err(invalid(
                    "this PIN is too easy to guess (a repeated digit, a run like 123456, or a very common PIN): choose 6 other digits",
                ));
            }
            return Ok(Self {
                value: raw.to_owned(),
                is_pin: true,
            });
        }
        if all_digits && raw.len() < 8 {
            return Err(invalid(
                "this is too short: expected a PIN of exactly 6 digits or a password of at least 8 characters",
            ));
        }
        let length = raw.chars().count();
        if !(8..=128).contains(&length) {
            return Err(invalid(format!(
                "a password of {length} characters is not accepted: expected 8 to 128 characters, or a PIN of exactly 6 digits"
            )));
        }
        Ok(Self {
            value: raw.to_owned(),
            is_pin: false,
        })
    }

    pub fn expose(&self) -> &str {
        &self.value
    }

    pub fn is_pin(&self) -> bool {
        self.is_pin
    }

    /// Staff reach many people's data: their secret is a password of at least 12 characters,
    /// never a PIN (PINs are for beneficiaries, whom throttling and long names protect).
    pub fn check_for_staff(&self) -> Result<(), ServiceError> {
        if self.is_pin || self.value.chars().count() < 12 {
            return Err(invalid(
                "staff accounts (agents, volunteers, managers, admins) sign in with a password of at least 12 characters, not a PIN",
            ));
        }
        Ok(())
    }
}

/// A given or family name as the person writes it: 1 to 100 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ServiceError> {
        let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        let length = name.chars().count();
        if length == 0 || length > 100 || name.chars().any(char::is_control) {
            return Err(invalid(format!(
                "{field} is not accepted: expected 1 to 100 characters, without control characters"
            )));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A date of birth, `YYYY-MM-DD` (`DD/MM/YYYY` is accepted and rewritten): it tells people of
/// the same name apart at the desk. Not in the future, not before 1900.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BirthDate(time::Date);

impl BirthDate {
    pub fn parse(raw: &str, today: time::Date) -> Result<Self, ServiceError> {
        use time::macros::format_description;
        let raw = raw.trim();
        let refused = || {
            invalid(format!(
                "date of birth `{raw}` is not accepted: expected YYYY-MM-DD (or DD/MM/YYYY), between 1900 and today"
            ))
        };
        let date = time::Date::parse(raw, format_description!("[year]-[month]-[day]"))
            .or_else(|_| time::Date::parse(raw, format_description!("[day]/[month]/[year]")))
            .map_err(|_| refused())?;
        if date.year() < 1900 || date > today {
            return Err(refused());
        }
        Ok(Self(date))
    }

    pub fn as_string(&self) -> String {
        let (y, m, d) = (self.0.year(), u8::from(self.0.month()), self.0.day());
        format!("{y:04}-{m:02}-{d:02}")
    }
}

impl TryFrom<String> for BirthDate {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        time::Date::parse(
            &text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map(Self)
        .map_err(|e| format!("stored date of birth `{text}`: {e}"))
    }
}

impl From<BirthDate> for String {
    fn from(date: BirthDate) -> String {
        date.as_string()
    }
}

/// A name or username as a search sees it: lower case, accents and punctuation away, spaces
/// single (`Élodie  N'Diaye` → `elodie n diaye`).
pub fn search_key(text: &str) -> String {
    deunicode::deunicode(text)
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub use passerelle_sms::Phone;

/// A language tag such as `fr`, `ar`, `uk` or `pt-BR`; defaults to French.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Language(String);

impl Language {
    pub fn parse(raw: &str) -> Result<Self, ServiceError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Self("fr".into()));
        }
        let mut parts = raw.split(['-', '_']);
        let primary = parts.next().unwrap_or_default().to_ascii_lowercase();
        let region = parts.next().map(str::to_ascii_uppercase);
        let ok = (2..=3).contains(&primary.len())
            && primary.chars().all(|c| c.is_ascii_lowercase())
            && parts.next().is_none()
            && region
                .as_ref()
                .is_none_or(|r| r.len() == 2 && r.chars().all(|c| c.is_ascii_uppercase()));
        if !ok {
            return Err(invalid(format!(
                "language `{raw}` is not accepted: expected a language code such as fr, ar, uk or pt-BR"
            )));
        }
        Ok(Self(match region {
            Some(region) => format!("{primary}-{region}"),
            None => primary,
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A structure id: `ccas-nord`, `france-services-etouvie`…
pub fn parse_structure(raw: &str) -> Result<String, ServiceError> {
    let s = raw.trim().to_lowercase();
    let ok = (2..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(s)
    } else {
        Err(invalid(format!(
            "structure `{raw}` is not accepted: expected 2 to 64 lowercase letters, digits or `-`, e.g. ccas-nord"
        )))
    }
}

/// What a structure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructureKind {
    Ccas,
    FranceServices,
    Association,
    Library,
    TownHall,
    Other,
}

impl StructureKind {
    /// The kinds as a `--structures` file names them.
    pub const NAMES: &'static str = "ccas, france_services, association, library, town_hall, other";

    pub fn parse(raw: &str) -> Result<Self, ServiceError> {
        serde_json::from_value(serde_json::Value::String(raw.trim().to_lowercase())).map_err(|_| {
            invalid(format!(
                "structure kind `{raw}` is not known: expected one of {}",
                Self::NAMES
            ))
        })
    }
}

/// A structure of the registry: what accounts and mandates name, and what people read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Structure {
    pub id: String,
    pub display_name: String,
    pub kind: StructureKind,
}

impl Structure {
    pub fn parse(id: &str, display_name: &str, kind: StructureKind) -> Result<Self, ServiceError> {
        let id = parse_structure(id)?;
        let name = display_name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() || name.chars().count() > 120 {
            return Err(invalid(format!(
                "display name `{display_name}` is not accepted: expected 1 to 120 characters, e.g. CCAS d'Amiens, antenne Nord"
            )));
        }
        Ok(Self {
            id,
            display_name: name,
            kind,
        })
    }
}

/// PINs a guesser tries first: one digit repeated, a run up or down, and the most common
/// six-digit PINs in published leaks. Refused when a PIN is set.
fn is_weak_pin(pin: &str) -> bool {
    const COMMON: [&str; 24] = [
        "123123", "121212", "112233", "123321", "654321", "111222", "159753", "147258", "789456",
        "102030", "101010", "696969", "131313", "232323", "123654", "520520", "147852", "159357",
        "789123", "100200", "112358", "246810", "135790", "147369",
    ];
    let digits: Vec<i32> = pin
        .bytes()
        .map(|b| i32::from(b) - i32::from(b'0'))
        .collect();
    let steps: Vec<i32> = digits.windows(2).map(|w| w[1] - w[0]).collect();
    let same_step = steps.windows(2).all(|w| w[0] == w[1]);
    let run = same_step && matches!(steps.first(), Some(-1..=1));
    run || COMMON.contains(&pin)
}

/// An identity document an agent saw at the desk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    IdentityCard,
    Passport,
    ResidencePermit,
    DrivingLicence,
    AsylumCertificate,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::IdentityCard => "identity card",
            DocumentKind::Passport => "passport",
            DocumentKind::ResidencePermit => "residence permit",
            DocumentKind::DrivingLicence => "driving licence",
            DocumentKind::AsylumCertificate => "asylum-seeker certificate",
        }
    }
}

/// A document's kind and number, as read at the desk: the number is kept only hashed.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityDocument {
    pub kind: DocumentKind,
    number: String,
}

impl std::fmt::Debug for IdentityDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IdentityDocument({}, {})",
            self.kind.as_str(),
            self.masked()
        )
    }
}

impl IdentityDocument {
    /// Spaces, dashes and case do not matter; 5 to 24 letters and digits.
    pub fn parse(kind: DocumentKind, raw: &str) -> Result<Self, ServiceError> {
        let number: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_uppercase)
            .collect();
        if !(5..=24).contains(&number.len()) || !number.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(
                "the identity document's number is not accepted: expected 5 to 24 letters and digits, as printed on it",
            ));
        }
        Ok(Self { kind, number })
    }

    /// The last three characters, for the audit trail: `••••4B2`.
    pub fn masked(&self) -> String {
        let tail: String = self
            .number
            .chars()
            .skip(self.number.chars().count().saturating_sub(3))
            .collect();
        format!("••••{tail}")
    }

    /// A salted hash, so two agents' readings can be compared without keeping the number.
    pub fn hash(&self, salt: &str) -> String {
        crate::credentials::sha256_hex(&format!("{salt}:{}:{}", self.kind.as_str(), self.number))
    }
}

/// Checks that `bytes` is a whole PNG image (chunks with their CRCs, a header of a sensible
/// size, image data, an end), not merely bytes that start like one.
pub fn check_signature_png(bytes: &[u8]) -> Result<(), ServiceError> {
    let refused = |why: &str| {
        Err(invalid(format!(
            "signature_png is not accepted ({why}): expected a PNG image of the signature, at most 512 KiB and 4096 pixels a side"
        )))
    };
    if bytes.len() > 512 * 1024 {
        return refused("too large");
    }
    let Some(mut rest) = bytes.strip_prefix(b"\x89PNG\r\n\x1a\n") else {
        return refused("not a PNG file");
    };
    let (mut first, mut data_seen) = (true, false);
    while rest.len() >= 12 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if rest.len() - 12 < len {
            return refused("a chunk is cut short");
        }
        let (kind, data) = (&rest[4..8], &rest[8..8 + len]);
        let crc =
            u32::from_be_bytes([rest[8 + len], rest[9 + len], rest[10 + len], rest[11 + len]]);
        if crc32(&rest[4..8 + len]) != crc {
            return refused("a chunk is damaged");
        }
        if first {
            if kind != b"IHDR" || len != 13 {
                return refused("no image header");
            }
            let width = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let height = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            if !(1..=4096).contains(&width) || !(1..=4096).contains(&height) {
                return refused("the image size is out of range");
            }
            first = false;
        }
        data_seen |= kind == b"IDAT";
        if kind == b"IEND" {
            return if data_seen && rest.len() == 12 {
                Ok(())
            } else {
                refused("no image data")
            };
        }
        rest = &rest[12 + len..];
    }
    refused("the file ends before its end marker")
}

/// CRC-32 (ISO 3309), as PNG chunks carry it.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// An account as the store keeps it. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub username: Username,
    pub role: StoredRole,
    pub given_name: PersonName,
    pub family_name: PersonName,
    pub phone: Option<Phone>,
    pub language: Language,
    pub structure: String,
    pub created_at: i64,
    pub created_by: String,
    pub uses_pin: bool,
    /// Accounts made before dates of birth were asked have none.
    #[serde(default)]
    pub birth_date: Option<BirthDate>,
    /// Argon2id PHC string, for the built-in issuer; empty when Keycloak holds the secret.
    pub secret_hash: String,
    /// SHA-256 (hex) of the current one-time recovery code.
    pub recovery_hash: String,
}

/// [`Role`] as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredRole {
    Beneficiary,
    Agent,
    Volunteer,
    Manager,
    Admin,
}

impl From<StoredRole> for Role {
    fn from(r: StoredRole) -> Self {
        match r {
            StoredRole::Beneficiary => Role::Beneficiary,
            StoredRole::Agent => Role::Agent,
            StoredRole::Volunteer => Role::Volunteer,
            StoredRole::Manager => Role::Manager,
            StoredRole::Admin => Role::Admin,
        }
    }
}

impl From<Role> for StoredRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Beneficiary => StoredRole::Beneficiary,
            Role::Agent => StoredRole::Agent,
            Role::Volunteer => StoredRole::Volunteer,
            Role::Manager => StoredRole::Manager,
            Role::Admin => StoredRole::Admin,
        }
    }
}

/// How long a mandate lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MandateDuration {
    OneDay,
    OneMonth,
    SixMonths,
    OneYear,
}

impl MandateDuration {
    /// In seconds: a day, 30 days, 182 days, 365 days.
    pub fn seconds(self) -> i64 {
        const DAY: i64 = 86_400;
        match self {
            MandateDuration::OneDay => DAY,
            MandateDuration::OneMonth => 30 * DAY,
            MandateDuration::SixMonths => 182 * DAY,
            MandateDuration::OneYear => 365 * DAY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(
            Username::parse(" Marie.Dupont ").unwrap().as_str(),
            "marie.dupont"
        );
        for bad in ["ab", "1marie", "marie dupont", "mélanie", &"a".repeat(33)] {
            let err = Username::parse(bad).unwrap_err().to_string();
            assert!(err.contains("expected 3 to 32 characters"), "{bad}: {err}");
        }
        let generated = Username::generate().unwrap();
        assert!(Username::parse(generated.as_str()).is_ok(), "{generated}");
    }

    #[test]
    fn secrets_are_pins_or_passwords() {
        assert!(Secret::parse("482913").unwrap().is_pin());
        assert!(!Secret::parse("correct horse").unwrap().is_pin());
        assert!(
            Secret::parse("12345")
                .unwrap_err()
                .to_string()
                .contains("exactly 6 digits")
        );
        assert!(
            Secret::parse("1234567")
                .unwrap_err()
                .to_string()
                .contains("exactly 6 digits")
        );
        assert!(
            Secret::parse("short")
                .unwrap_err()
                .to_string()
                .contains("8 to 128")
        );
        assert!(
            format!("{:?}", Secret::parse("482913").unwrap()).contains('…'),
            "never printed"
        );
    }

    #[test]
    fn pins_a_guesser_tries_first_are_refused() {
        for weak in [
            "000000", "999999", "123456", "234567", "987654", "654321", "123123",
        ] {
            let err = Secret::parse(weak).unwrap_err().to_string();
            assert!(err.contains("too easy to guess"), "{weak}: {err}");
        }
        for fine in ["482913", "240601", "135792", "918273"] {
            assert!(Secret::parse(fine).unwrap().is_pin(), "{fine}");
        }
    }

    #[test]
    fn generated_names_are_two_words_and_four_digits() {
        let names: std::collections::BTreeSet<String> = (0..200)
            .map(|_| Username::generate().unwrap().as_str().to_owned())
            .collect();
        assert!(names.len() > 190, "names repeat too often: {}", names.len());
        for name in &names {
            let parts: Vec<&str> = name.split('-').collect();
            assert_eq!(parts.len(), 3, "{name}");
            assert!(parts[2].len() == 4 && parts[2].chars().all(|c| c.is_ascii_digit()));
            assert!(Username::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn identity_documents_compare_by_salted_hash_and_show_only_their_end() {
        let one = IdentityDocument::parse(DocumentKind::IdentityCard, "x4rt 8b2 1ab").unwrap();
        let two = IdentityDocument::parse(DocumentKind::IdentityCard, "X4RT-8B21AB").unwrap();
        assert_eq!(one.hash("r1"), two.hash("r1"));
        assert_ne!(one.hash("r1"), one.hash("r2"), "salted");
        let passport = IdentityDocument::parse(DocumentKind::Passport, "X4RT8B21AB").unwrap();
        assert_ne!(one.hash("r1"), passport.hash("r1"), "the kind counts");
        assert_eq!(one.masked(), "••••1AB");
        assert!(!format!("{one:?}").contains("X4RT"));
        for bad in ["", "12", "AB#123", "é12345"] {
            assert!(
                IdentityDocument::parse(DocumentKind::Passport, bad).is_err(),
                "{bad}"
            );
        }
    }

    /// A whole 1×1 PNG: what a signature pad sends, in miniature.
    pub fn tiny_png() -> Vec<u8> {
        fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut body = kind.to_vec();
            body.extend_from_slice(data);
            out.extend_from_slice(&body);
            out.extend_from_slice(&crc32(&body).to_be_bytes());
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
        chunk(
            &mut png,
            b"IDAT",
            &[0x78, 0x9c, 0x63, 0x60, 0, 0, 0, 2, 0, 1],
        );
        chunk(&mut png, b"IEND", &[]);
        png
    }

    #[test]
    fn a_signature_must_be_a_whole_png() {
        let png = tiny_png();
        assert!(check_signature_png(&png).is_ok());
        let mut just_magic = b"\x89PNG\r\n\x1a\n".to_vec();
        just_magic.extend_from_slice(&[0u8; 32]);
        for (bad, why) in [
            (just_magic, "damaged"),
            (png[..png.len() - 4].to_vec(), "end marker"),
            (b"GIF89a".to_vec(), "not a PNG"),
            (
                {
                    let mut flipped = png.clone();
                    flipped[20] ^= 1;
                    flipped
                },
                "damaged",
            ),
        ] {
            let err = check_signature_png(&bad).unwrap_err().to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
    }

    #[test]
    fn languages_and_names() {
        assert_eq!(Language::parse("").unwrap().as_str(), "fr");
        assert_eq!(Language::parse("pt_br").unwrap().as_str(), "pt-BR");
        assert!(Language::parse("français").is_err());
        assert_eq!(
            PersonName::parse("given name", "  Jean   Pierre ")
                .unwrap()
                .as_str(),
            "Jean Pierre"
        );
        assert!(PersonName::parse("given name", "  ").is_err());
        assert_eq!(parse_structure("CCAS-Nord").unwrap(), "ccas-nord");
        assert!(parse_structure("ccas nord").is_err());
        let nord = Structure::parse(
            "CCAS-Nord",
            "  CCAS d'Amiens,  antenne Nord ",
            StructureKind::Ccas,
        )
        .unwrap();
        assert_eq!(
            (nord.id.as_str(), nord.display_name.as_str()),
            ("ccas-nord", "CCAS d'Amiens, antenne Nord")
        );
        assert!(Structure::parse("ccas-nord", " ", StructureKind::Ccas).is_err());
        assert!(Structure::parse("ccas-nord", &"x".repeat(121), StructureKind::Ccas).is_err());
        assert_eq!(
            StructureKind::parse("France_Services").unwrap(),
            StructureKind::FranceServices
        );
        assert!(
            StructureKind::parse("mairie")
                .unwrap_err()
                .to_string()
                .contains("expected one of ccas, france_services")
        );
    }
}
