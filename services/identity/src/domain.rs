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

    /// An easy name to read out and type: a common French word and four digits.
    pub fn generate() -> Self {
        const WORDS: [&str; 24] = [
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
        ];
        let mut bytes = [0u8; 4];
        let _ = aws_lc_rs::rand::fill(&mut bytes);
        let n = u32::from_le_bytes(bytes);
        let word = WORDS[(n as usize) % WORDS.len()];
        Self(format!("{word}-{:04}", (n / 24) % 10_000))
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
            return Ok(Self {
                value: raw.to_owned(),
                is_pin: true,
            });
        }
        if all_digits && raw.len() < 8 {
            return Err(invalid(
                "a PIN has exactly 6 digits; a password has at least 8 characters",
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

/// A phone number in E.164 (`+33612345678`). French numbers may be written as people write
/// them (`06 12 34 56 78`, `06.12.34.56.78`, `+33 6 12 34 56 78`, `0033612345678`); overseas
/// departments' numbers (0692…, 0690…) are recognised too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, ServiceError> {
        use phonenumber::country::Id;
        let reject = || {
            invalid(format!(
                "phone number `{raw}` is not accepted: expected a French number such as 06 12 34 56 78 or an international one such as +32 470 12 34 56"
            ))
        };
        // Mainland France first, then the overseas regions sharing the +33-style 0 prefix.
        for region in [Id::FR, Id::RE, Id::GP, Id::MQ, Id::GF, Id::YT, Id::PM] {
            if let Ok(number) = phonenumber::parse(Some(region), raw)
                && phonenumber::is_valid(&number)
            {
                return Ok(Self(
                    number.format().mode(phonenumber::Mode::E164).to_string(),
                ));
            }
        }
        Err(reject())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `+33 6 •• •• •• 78`: enough for the person to recognise it, not enough to copy it.
    pub fn masked(&self) -> String {
        let digits: Vec<char> = self.0.chars().collect();
        if digits.len() < 6 {
            return "••".into();
        }
        let head: String = digits[..4].iter().collect();
        let tail: String = digits[digits.len() - 2..].iter().collect();
        format!("{} {} •• •• •• {tail}", &head[..3], &head[3..])
    }
}

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
        let generated = Username::generate();
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
    fn phones_come_out_in_e164_whatever_the_writing() {
        for raw in [
            "06 12 34 56 78",
            "06.12.34.56.78",
            "+33 6 12 34 56 78",
            "0033612345678",
            "0612345678",
        ] {
            assert_eq!(Phone::parse(raw).unwrap().as_str(), "+33612345678", "{raw}");
        }
        assert_eq!(
            Phone::parse("0692 12 34 56").unwrap().as_str(),
            "+262692123456"
        );
        assert_eq!(
            Phone::parse("+32 470 12 34 56").unwrap().as_str(),
            "+32470123456"
        );
        assert!(
            Phone::parse("12")
                .unwrap_err()
                .to_string()
                .contains("expected a French number")
        );
        assert_eq!(
            Phone::parse("0612345678").unwrap().masked(),
            "+33 6 •• •• •• 78"
        );
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
    }
}
