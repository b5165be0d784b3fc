//! The register's rules, free of storage and gRPC: who may be registered, what is kept about
//! them (the decree's fields and nothing else), how each value is checked, and the prefect's CSV.

use passerelle_sms::Phone;
use serde::{Deserialize, Serialize};
use time::Date;
use time::macros::format_description;

/// Under which public a person may register (art. L121-6-1 CASF).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capacity {
    /// 65 or over.
    Senior,
    /// Over 60, recognised unfit for work.
    UnfitForWork,
    /// A disabled adult.
    DisabledAdult,
}

impl Capacity {
    /// The youngest age, in whole years, this public takes.
    pub fn minimum_age(self) -> u32 {
        match self {
            Self::Senior => 65,
            Self::UnfitForWork => 60,
            Self::DisabledAdult => 18,
        }
    }

    /// As the prefect's file says it.
    pub fn label_fr(self) -> &'static str {
        match self {
            Self::Senior => "personne âgée de 65 ans et plus",
            Self::UnfitForWork => "personne de plus de 60 ans reconnue inapte au travail",
            Self::DisabledAdult => "personne adulte handicapée",
        }
    }
}

/// Which third party registered the person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThirdPartyKind {
    Doctor,
    Relative,
    HomeCareService,
    Neighbour,
    Other,
}

/// How the person consented to a third party registering them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentForm {
    Written,
    Oral,
}

/// The person's consent to a third party's registration: how, when, recorded by whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub form: ConsentForm,
    /// YYYY-MM-DD.
    pub given_on: String,
    pub recorded_by: String,
}

/// Who asked for the registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Registrant {
    /// The person themselves.
    Own,
    LegalRepresentative {
        name: String,
    },
    ThirdParty {
        kind: ThirdPartyKind,
        name: String,
        consent: Consent,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line: String,
    pub postcode: String,
    pub commune: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    pub phone: Phone,
}

/// The decree's fields about the person, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub family_name: String,
    pub given_name: String,
    /// YYYY-MM-DD.
    pub birth_date: String,
    pub address: Address,
    /// The one to call first first.
    pub phones: Vec<Phone>,
    pub capacity: Capacity,
    pub home_care_service: Option<String>,
    pub emergency_contact: Option<Contact>,
}

/// One person in the register.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub id: String,
    /// The structure keeping it: the sector's.
    pub structure: String,
    pub sector: String,
    pub account_id: Option<String>,
    pub person: Person,
    pub registrant: Registrant,
    /// The account that entered it.
    pub registered_by: String,
    pub registered_at: i64,
    pub updated_at: i64,
}

impl Registration {
    /// Whose audit trail reads of this registration go to: the person's account's when linked,
    /// else the registration's own.
    pub fn trail(&self) -> &str {
        self.account_id.as_deref().unwrap_or(&self.id)
    }

    /// The key the register is listed by: family name, given name, then id.
    pub fn sort_key(&self) -> String {
        format!(
            "{}\u{1f}{}\u{1f}{}",
            fold(&self.person.family_name),
            fold(&self.person.given_name),
            self.id
        )
    }
}

/// The person's values as typed, before checking.
#[derive(Clone, Debug, Default)]
pub struct PersonInput {
    pub family_name: String,
    pub given_name: String,
    pub birth_date: String,
    pub line: String,
    pub postcode: String,
    pub commune: String,
    pub phones: Vec<String>,
    /// `None`: not given.
    pub capacity: Option<Capacity>,
    pub home_care_service: String,
    pub emergency_name: String,
    pub emergency_phone: String,
}

/// Who asked, as typed.
#[derive(Clone, Debug, Default)]
pub struct RegistrantInput {
    /// `None`: not given.
    pub kind: Option<RegistrantKind>,
    pub third_party: Option<ThirdPartyKind>,
    pub name: String,
    pub consent_form: Option<ConsentForm>,
    pub consent_given_on: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrantKind {
    Own,
    LegalRepresentative,
    ThirdParty,
}

/// Every value that was not accepted, each said with its field, its value and what is
/// accepted; empty when all is well.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    pub fn add(&mut self, problem: impl Into<String>) {
        self.0.push(problem.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// All of them, in one sentence list.
    pub fn message(&self) -> String {
        self.0.join("; ")
    }
}

const MAX_NAME: usize = 100;
const MAX_LINE: usize = 200;
const MAX_PHONES: usize = 4;

fn text(field: &str, raw: &str, max: usize, required: bool, problems: &mut Problems) -> String {
    let value = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if value.is_empty() {
        if required {
            problems.add(format!("{field} is required"));
        }
    } else if value.chars().count() > max {
        problems.add(format!("{field} is longer than {max} characters"));
    } else if value.chars().any(char::is_control) {
        problems.add(format!("{field} has control characters"));
    }
    value
}

/// `YYYY-MM-DD` to a date.
pub fn parse_day(raw: &str) -> Option<Date> {
    Date::parse(raw.trim(), format_description!("[year]-[month]-[day]")).ok()
}

/// Whole years from `born` to `today`.
pub fn age(born: Date, today: Date) -> i32 {
    let mut years = today.year() - born.year();
    if (today.month() as u8, today.day()) < (born.month() as u8, born.day()) {
        years -= 1;
    }
    years
}

fn phone(field: &str, raw: &str, problems: &mut Problems) -> Option<Phone> {
    match Phone::parse(raw) {
        Ok(phone) => Some(phone),
        Err(_) => {
            problems.add(format!(
                "{field} `{raw}` is not a phone number: expected a French number such as 06 12 34 56 78 or +33 6 12 34 56 78"
            ));
            None
        }
    }
}

impl PersonInput {
    /// The person, or every problem with the values. `today` bounds the date of birth and
    /// decides the age the public needs.
    pub fn check(&self, today: Date, problems: &mut Problems) -> Option<Person> {
        let family_name = text("family_name", &self.family_name, MAX_NAME, true, problems);
        let given_name = text("given_name", &self.given_name, MAX_NAME, true, problems);
        let line = text("address.line", &self.line, MAX_LINE, true, problems);
        let commune = text("address.commune", &self.commune, MAX_NAME, true, problems);
        let postcode = self.postcode.trim().to_owned();
        if postcode.len() != 5 || !postcode.bytes().all(|b| b.is_ascii_digit()) {
            problems.add(format!(
                "address.postcode `{postcode}` is not a postcode: expected 5 digits, e.g. 80000"
            ));
        }
        let born = parse_day(&self.birth_date);
        match born {
            None => problems.add(format!(
                "birth_date `{}` is not a date: expected YYYY-MM-DD, e.g. 1948-03-21",
                self.birth_date.trim()
            )),
            Some(born) if born > today || age(born, today) > 125 => problems.add(format!(
                "birth_date `{}` is not a plausible date of birth",
                self.birth_date.trim()
            )),
            Some(_) => {}
        }
        match (self.capacity, born) {
            (None, _) => problems.add(
                "capacity is required: expected SENIOR (65 or over), UNFIT_FOR_WORK (over 60, recognised unfit for work) or DISABLED_ADULT",
            ),
            (Some(capacity), Some(born)) if born <= today => {
                let years = age(born, today);
                if years < capacity.minimum_age() as i32 {
                    problems.add(format!(
                        "the person is {years}: the register takes people 65 or over, over 60 and recognised unfit for work, or disabled adults (capacity {capacity:?} needs {} or over)",
                        capacity.minimum_age()
                    ));
                }
            }
            _ => {}
        }
        let raw_phones: Vec<&str> = self
            .phones
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .collect();
        if raw_phones.is_empty() {
            problems.add(
                "phones: at least one phone number is required, to be called during a heatwave",
            );
        } else if raw_phones.len() > MAX_PHONES {
            problems.add(format!("phones: at most {MAX_PHONES} numbers"));
        }
        let mut phones: Vec<Phone> = Vec::new();
        for raw in raw_phones.iter().take(MAX_PHONES) {
            if let Some(p) = phone("phones", raw, problems)
                && !phones.contains(&p)
            {
                phones.push(p);
            }
        }
        let home_care = text(
            "home_care_service",
            &self.home_care_service,
            MAX_LINE,
            false,
            problems,
        );
        let emergency_name = text(
            "emergency_contact.name",
            &self.emergency_name,
            MAX_NAME,
            false,
            problems,
        );
        let emergency_contact = match (emergency_name.is_empty(), self.emergency_phone.trim()) {
            (true, "") => None,
            (false, "") => {
                problems.add("emergency_contact.phone is required with a contact's name");
                None
            }
            (true, _) => {
                problems.add("emergency_contact.name is required with a contact's phone");
                None
            }
            (false, raw) => phone("emergency_contact.phone", raw, problems).map(|phone| Contact {
                name: emergency_name,
                phone,
            }),
        };
        if !problems.is_empty() {
            return None;
        }
        Some(Person {
            family_name,
            given_name,
            birth_date: born?.to_string(),
            address: Address {
                line,
                postcode,
                commune,
            },
            phones,
            capacity: self.capacity?,
            home_care_service: (!home_care.is_empty()).then_some(home_care),
            emergency_contact,
        })
    }
}

impl RegistrantInput {
    /// Who asked, or the problems; `recorded_by` is the account entering the registration.
    pub fn check(
        &self,
        recorded_by: &str,
        today: Date,
        problems: &mut Problems,
    ) -> Option<Registrant> {
        let name = text("registrant_name", &self.name, MAX_NAME, false, problems);
        match self.kind {
            None => {
                problems.add(
                    "registrant is required: expected SELF, LEGAL_REPRESENTATIVE or THIRD_PARTY",
                );
                None
            }
            Some(RegistrantKind::Own) => Some(Registrant::Own),
            Some(RegistrantKind::LegalRepresentative) => {
                if name.is_empty() {
                    problems.add("registrant_name is required: the legal representative's name");
                    return None;
                }
                Some(Registrant::LegalRepresentative { name })
            }
            Some(RegistrantKind::ThirdParty) => {
                let Some(kind) = self.third_party else {
                    problems.add("third_party is required: expected DOCTOR, RELATIVE, HOME_CARE_SERVICE, NEIGHBOUR or OTHER");
                    return None;
                };
                if name.is_empty() {
                    problems.add("registrant_name is required: the third party's name");
                }
                let Some(form) = self.consent_form else {
                    problems.add("consent is required when a third party registers the person: expected its form (WRITTEN or ORAL) and the day it was given");
                    return None;
                };
                let given_on = match parse_day(&self.consent_given_on) {
                    Some(day) if day <= today => day.to_string(),
                    Some(_) => {
                        problems.add(format!(
                            "consent.given_on `{}` is in the future",
                            self.consent_given_on.trim()
                        ));
                        return None;
                    }
                    None => {
                        problems.add(format!(
                            "consent.given_on `{}` is not a date: expected YYYY-MM-DD",
                            self.consent_given_on.trim()
                        ));
                        return None;
                    }
                };
                if name.is_empty() {
                    return None;
                }
                Some(Registrant::ThirdParty {
                    kind,
                    name,
                    consent: Consent {
                        form,
                        given_on,
                        recorded_by: recorded_by.to_owned(),
                    },
                })
            }
        }
    }
}

/// Lowercase, accents and spacing gone: how names compare.
pub fn fold(name: &str) -> String {
    deunicode::deunicode(name)
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What makes two registrations the same person: names and date of birth.
pub fn person_key(person: &Person) -> String {
    format!(
        "{}|{}|{}",
        fold(&person.family_name),
        fold(&person.given_name),
        person.birth_date
    )
}

/// The prefect's columns: the decree's fields, in French.
pub const CSV_HEADER: &str = "nom;prenom;date_naissance;adresse;code_postal;commune;telephones;qualite;service_aide_domicile;contact_urgence_nom;contact_urgence_telephone;secteur";

/// One CSV cell: quoted when it holds `;`, a quote or a line break; a cell a spreadsheet would
/// run as a formula (`=`, `@`, or `+`/`-` not followed by a digit) is prefixed with `'`.
fn cell(value: &str) -> String {
    let mut chars = value.chars();
    let formula = match chars.next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !chars.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    };
    let value = if formula {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// A registration as a line of the prefect's CSV (without the line break).
pub fn csv_line(r: &Registration) -> String {
    let p = &r.person;
    let phones: Vec<&str> = p.phones.iter().map(Phone::as_str).collect();
    let (contact_name, contact_phone) = p
        .emergency_contact
        .as_ref()
        .map_or(("", ""), |c| (c.name.as_str(), c.phone.as_str()));
    [
        p.family_name.as_str(),
        &p.given_name,
        &p.birth_date,
        &p.address.line,
        &p.address.postcode,
        &p.address.commune,
        &phones.join(" "),
        p.capacity.label_fr(),
        p.home_care_service.as_deref().unwrap_or(""),
        contact_name,
        contact_phone,
        &r.sector,
    ]
    .iter()
    .map(|v| cell(v))
    .collect::<Vec<_>>()
    .join(";")
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    const TODAY: Date = date!(2026 - 07 - 14);

    fn jeanne() -> PersonInput {
        PersonInput {
            family_name: "Lefèvre".into(),
            given_name: "Jeanne".into(),
            birth_date: "1941-07-15".into(),
            line: "12 rue des Jacobins, 3e étage".into(),
            postcode: "80000".into(),
            commune: "Amiens".into(),
            phones: vec!["03 22 97 10 10".into(), "06 12 34 56 78".into()],
            capacity: Some(Capacity::Senior),
            ..Default::default()
        }
    }

    #[test]
    fn ages_count_whole_years_to_the_day() {
        assert_eq!(age(date!(1941 - 07 - 15), TODAY), 84);
        assert_eq!(age(date!(1941 - 07 - 14), TODAY), 85);
        assert_eq!(age(date!(1961 - 07 - 15), TODAY), 64);
    }

    #[test]
    fn a_senior_is_kept_with_phones_in_e164() {
        let mut problems = Problems::default();
        let person = jeanne()
            .check(TODAY, &mut problems)
            .unwrap_or_else(|| panic!("{}", problems.message()));
        assert_eq!(person.birth_date, "1941-07-15");
        assert_eq!(
            person.phones.iter().map(Phone::as_str).collect::<Vec<_>>(),
            ["+33322971010", "+33612345678"]
        );
        assert_eq!(person_key(&person), "lefevre|jeanne|1941-07-15");
    }

    #[test]
    fn only_the_eligible_publics_are_taken() {
        let young = PersonInput {
            birth_date: "1962-01-01".into(),
            ..jeanne()
        };
        let mut problems = Problems::default();
        assert!(young.check(TODAY, &mut problems).is_none());
        assert!(
            problems.message().contains("the person is 64"),
            "{problems:?}"
        );
        // The same person, recognised unfit for work, may register.
        let unfit = PersonInput {
            capacity: Some(Capacity::UnfitForWork),
            ..young.clone()
        };
        assert!(unfit.check(TODAY, &mut Problems::default()).is_some());
        let disabled_child = PersonInput {
            birth_date: "2012-01-01".into(),
            capacity: Some(Capacity::DisabledAdult),
            ..jeanne()
        };
        assert!(
            disabled_child
                .check(TODAY, &mut Problems::default())
                .is_none()
        );
    }

    #[test]
    fn every_problem_is_said_at_once() {
        let bad = PersonInput {
            family_name: " ".into(),
            birth_date: "15/07/1941".into(),
            postcode: "8000".into(),
            phones: vec!["12".into()],
            emergency_name: "Paul".into(),
            ..jeanne()
        };
        let mut problems = Problems::default();
        assert!(bad.check(TODAY, &mut problems).is_none());
        let message = problems.message();
        for expected in [
            "family_name is required",
            "birth_date `15/07/1941` is not a date",
            "address.postcode `8000`",
            "phones `12` is not a phone number",
            "emergency_contact.phone is required",
        ] {
            assert!(message.contains(expected), "`{expected}` not in {message}");
        }
    }

    #[test]
    fn a_third_party_needs_the_persons_consent() {
        let mut asked = RegistrantInput {
            kind: Some(RegistrantKind::ThirdParty),
            third_party: Some(ThirdPartyKind::Neighbour),
            name: "Mme Roux".into(),
            ..Default::default()
        };
        let mut problems = Problems::default();
        assert!(asked.check("agent-nord", TODAY, &mut problems).is_none());
        assert!(
            problems.message().contains("consent is required"),
            "{problems:?}"
        );
        asked.consent_form = Some(ConsentForm::Oral);
        asked.consent_given_on = "2026-07-20".into();
        let mut problems = Problems::default();
        assert!(asked.check("agent-nord", TODAY, &mut problems).is_none());
        assert!(problems.message().contains("in the future"), "{problems:?}");
        asked.consent_given_on = "2026-07-13".into();
        let registrant = asked.check("agent-nord", TODAY, &mut Problems::default());
        assert!(
            matches!(registrant, Some(Registrant::ThirdParty { ref consent, .. }) if consent.recorded_by == "agent-nord"),
            "{registrant:?}"
        );
    }

    #[test]
    fn the_csv_quotes_separators_and_defuses_formulas() {
        assert_eq!(cell("12 rue; bât A"), "\"12 rue; bât A\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+33612345678"), "+33612345678");
        assert_eq!(cell("-cmd"), "'-cmd");
        let person = jeanne().check(TODAY, &mut Problems::default()).unwrap();
        let line = csv_line(&Registration {
            id: "r1".into(),
            structure: "ccas-nord".into(),
            sector: "centre".into(),
            account_id: None,
            person,
            registrant: Registrant::Own,
            registered_by: "agent".into(),
            registered_at: 0,
            updated_at: 0,
        });
        assert_eq!(
            line.split(';').count(),
            CSV_HEADER.split(';').count(),
            "{line}"
        );
        assert!(
            line.starts_with("Lefèvre;Jeanne;1941-07-15;12 rue des Jacobins, 3e étage;80000;"),
            "{line}"
        );
    }
}
