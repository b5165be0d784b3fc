//! Phone numbers as people write them, kept in E.164.

use passerelle_core::ServiceError;
use serde::{Deserialize, Serialize};

/// A phone number in E.164 (`+33612345678`). French numbers may be written as people write
/// them (`06 12 34 56 78`, `06.12.34.56.78`, `+33 6 12 34 56 78`, `0033612345678`); overseas
/// departments' numbers (0692…, 0690…) are recognised too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, ServiceError> {
        use phonenumber::country::Id;
        let reject = || {
            ServiceError::InvalidArgument(format!(
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
        // By characters, not bytes: a damaged stored value must not panic here.
        let country: String = digits[..3].iter().collect();
        let tail: String = digits[digits.len() - 2..].iter().collect();
        format!("{country} {} •• •• •• {tail}", digits[3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
