//! Rows of a places file into clean places: what is refused, what is kept with a warning, and
//! how each field is read.

use serde::Serialize;

use crate::error::Invalid;
use crate::geo;
use crate::hours;

use super::{NO_PIVOT, Place, Vocabulary, department_of_insee, department_of_postcode, match_key};

/// Something wrong in a row: where, which field, what it held, what is accepted. A rejection
/// when the row is refused; a warning when the place is kept without (or with) that value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// 1-based line in the file (the header is line 1), or the index in a JSON array + 1.
    pub line: usize,
    pub field: String,
    pub value: String,
    pub reason: String,
}

/// Why a row was refused.
pub type Rejection = Problem;
/// A doubtful value in a place that was kept.
pub type Warning = Problem;

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: {} `{}`: {}",
            self.line, self.field, self.value, self.reason
        )
    }
}

fn clean(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn split_multi(raw: &str) -> Vec<String> {
    raw.split(['|', ';'])
        .map(clean)
        .filter(|v| !v.is_empty())
        .collect()
}

/// A place read from a row, with what was doubtful in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    pub place: Place,
    pub warnings: Vec<Warning>,
}

/// Reads a raw record (column → text) into a clean place, the way a file import does: a row is
/// refused only when the place itself is unusable — it lacks what the national schema requires
/// of every place (`id`, `nom`, an address: `adresse`, `commune` and a 5-digit `code_postal`; a
/// `services` value from the schema's list; `date_maj`). Any other doubtful value is a warning
/// and the place is kept: a SIRET whose check digit is wrong is kept as written (real files
/// carry typos; the national library checks only its length), coordinates swapped by the
/// source are put back, every other doubtful value (a phone, an e-mail, a web address, opening
/// hours, an INSEE code, coordinates outside France, a value outside a vocabulary…) is left
/// out of the place. A postcode outside the INSEE code's department is kept, with a warning.
pub fn parse_record(line: usize, get: &dyn Fn(&str) -> String) -> Result<Parsed, Rejection> {
    let (place, doubts) = read_record(line, get)?;
    Ok(Parsed {
        place,
        warnings: doubts.into_iter().map(|(warning, _)| warning).collect(),
    })
}

/// The same reading for one place edited by hand: any doubtful value refuses it, so the
/// person who typed it fixes it — but a postcode outside its INSEE code's department, which
/// real places have (communes served by a neighbouring department's post office).
pub fn parse_strict(get: &dyn Fn(&str) -> String) -> Result<Place, Rejection> {
    let (place, doubts) = read_record(1, get)?;
    match doubts
        .into_iter()
        .find(|(_, why)| !matches!(why, Invalid::PostcodeOutsideDepartment(_)))
    {
        Some((doubt, _)) => Err(doubt),
        None => Ok(place),
    }
}

/// A row read: the place, and each doubtful value with why.
fn read_record(
    line: usize,
    get: &dyn Fn(&str) -> String,
) -> Result<(Place, Vec<(Warning, Invalid)>), Rejection> {
    let problem = |field: &str, value: &str, reason: Invalid| Problem {
        line,
        field: field.to_owned(),
        value: value.to_owned(),
        reason: reason.to_string(),
    };
    let warnings = std::cell::RefCell::new(Vec::new());
    let warn = |field: &str, value: &str, reason: Invalid| {
        let warning = problem(field, value, reason.clone());
        warnings.borrow_mut().push((warning, reason));
    };
    let text = |field: &str| clean(&get(field));
    let required = |field: &str| {
        let value = text(field);
        if value.is_empty() {
            Err(problem(field, "", Invalid::Required))
        } else {
            Ok(value)
        }
    };
    let vocabulary = |field: &str, vocabulary: Vocabulary| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for value in split_multi(&get(field)) {
            match vocabulary.canonical(&value) {
                Some(canonical) if !out.iter().any(|v| v == canonical) => {
                    out.push(canonical.to_owned());
                }
                Some(_) => {}
                None => warn(
                    field,
                    &value,
                    Invalid::NotInVocabulary(vocabulary.values().join(" | ")),
                ),
            }
        }
        out
    };
    let url = |field: &str, raw: &str| match parse_url(raw) {
        Ok(url) => Some(url),
        Err(reason) => {
            warn(field, raw, reason);
            None
        }
    };
    let optional_url = |field: &str| {
        let raw = text(field);
        if raw.is_empty() {
            raw
        } else {
            url(field, &raw).unwrap_or_default()
        }
    };

    let id = required("id")?;
    let nom = required("nom")?;
    let adresse = required("adresse")?;
    let commune = required("commune")?;
    // Characters the schema refuses would make the national library refuse the whole place.
    let (adresse, commune) = {
        let mut kept = Vec::new();
        for (field, value, street) in [("adresse", &adresse, true), ("commune", &commune, false)] {
            let cleaned = schema_text(value, street);
            if cleaned.is_empty() {
                return Err(problem(field, value, Invalid::Required));
            }
            if cleaned != *value {
                warn(field, value, Invalid::CharactersRemoved);
            }
            kept.push(cleaned);
        }
        let commune = kept.pop().unwrap_or_default();
        (kept.pop().unwrap_or_default(), commune)
    };
    let code_postal = parse_postcode(&text("code_postal"))
        .map_err(|reason| problem("code_postal", &text("code_postal"), reason))?;
    let mut date_maj = parse_date(&text("date_maj"))
        .map_err(|reason| problem("date_maj", &text("date_maj"), reason))?;
    // A date still to come would win every merge against real updates.
    let tomorrow = time::OffsetDateTime::now_utc().date().next_day();
    if let Some(tomorrow) = tomorrow
        && date_maj > tomorrow.to_string()
    {
        warn("date_maj", &date_maj, Invalid::DateInFuture);
        date_maj = time::OffsetDateTime::now_utc().date().to_string();
    }
    let services = vocabulary("services", Vocabulary::Services);
    if services.is_empty() {
        let given = text("services");
        return Err(problem(
            "services",
            &given,
            Invalid::RequiredFrom(Vocabulary::Services.values().join(" | ")),
        ));
    }

    let pivot = match parse_pivot(&text("pivot")) {
        Ok(pivot) => pivot,
        Err(Invalid::SiretCheckDigit) => {
            let pivot: String = text("pivot").split_whitespace().collect();
            warn("pivot", &pivot, Invalid::SiretCheckDigitKept);
            pivot
        }
        Err(reason) => {
            warn("pivot", &text("pivot"), reason);
            String::new()
        }
    };
    let code_insee = parse_insee(&text("code_insee")).unwrap_or_else(|reason| {
        warn("code_insee", &text("code_insee"), reason);
        String::new()
    });
    if !code_insee.is_empty()
        && department_of_insee(&code_insee) != department_of_postcode(&code_postal)
    {
        warn(
            "code_postal",
            &code_postal,
            Invalid::PostcodeOutsideDepartment(code_insee.clone()),
        );
    }
    let (latitude, longitude) = match (text("latitude"), text("longitude")) {
        (lat, lon) if lat.is_empty() && lon.is_empty() => (None, None),
        (lat, lon) => {
            let number = |raw: &str| {
                raw.replace(',', ".")
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
            };
            let both = format!("{lat}, {lon}");
            match (number(&lat), number(&lon)) {
                (Some(lat), Some(lon)) => match geo::check_in_france(lat, lon) {
                    Ok(()) => (Some(lat), Some(lon)),
                    Err(Invalid::Swapped) => {
                        warn("latitude", &both, Invalid::SwappedBack);
                        (Some(lon), Some(lat))
                    }
                    Err(reason) => {
                        warn("latitude", &both, reason);
                        (None, None)
                    }
                },
                _ => {
                    warn("latitude", &both, Invalid::NotADegree);
                    (None, None)
                }
            }
        }
    };
    let mut typologie: Vec<String> = Vec::new();
    for value in split_multi(&get("typologie"))
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        match Vocabulary::Typologie.canonical(value) {
            Some(code) if !typologie.iter().any(|t| t == code) => typologie.push(code.to_owned()),
            Some(_) => {}
            None => warn("typologie", value, Invalid::NotAStructureType),
        }
    }
    let telephone = match text("telephone") {
        raw if raw.is_empty() => String::new(),
        raw => parse_phone(&raw).unwrap_or_else(|reason| {
            warn("telephone", &raw, reason);
            String::new()
        }),
    };
    let mut courriels: Vec<String> = Vec::new();
    for mail in split_multi(&get("courriels"))
        .into_iter()
        .chain(split_multi(&get("courriel")))
    {
        let ok = mail.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty() && domain.contains('.') && !mail.contains(' ')
        });
        if ok {
            courriels.push(mail.to_lowercase());
        } else {
            warn("courriels", &mail, Invalid::NotAnEmail);
        }
    }
    let site_web = split_multi(&get("site_web").replace(",http", "|http"))
        .iter()
        .filter_map(|u| url("site_web", u))
        .collect();
    let horaires = match text("horaires") {
        raw if raw.is_empty() => raw,
        raw => match hours::parse(&raw) {
            Ok(_) => raw,
            Err(reason) => {
                warn("horaires", &raw, reason);
                String::new()
            }
        },
    };
    let mut presentation_resume = text("presentation_resume");
    if presentation_resume.chars().count() > MAX_SUMMARY {
        warn(
            "presentation_resume",
            &presentation_resume.chars().take(40).collect::<String>(),
            Invalid::TooLong(MAX_SUMMARY),
        );
        presentation_resume = presentation_resume
            .chars()
            .take(MAX_SUMMARY - 1)
            .chain(['…'])
            .collect();
    }
    let x_wifi_public = match match_key(&get("x_wifi_public")).as_str() {
        "" | "non" | "no" | "false" | "0" => false,
        "oui" | "yes" | "true" | "1" => true,
        _ => {
            warn("x_wifi_public", &text("x_wifi_public"), Invalid::NotYesNo);
            false
        }
    };
    let x_postes_en_acces_libre = match text("x_postes_en_acces_libre") {
        raw if raw.is_empty() => 0,
        raw => raw.parse().unwrap_or_else(|_| {
            warn("x_postes_en_acces_libre", &raw, Invalid::NotACount);
            0
        }),
    };
    let place = Place {
        id,
        pivot,
        nom,
        commune,
        code_postal,
        code_insee,
        adresse,
        complement_adresse: text("complement_adresse"),
        latitude,
        longitude,
        typologie,
        telephone,
        courriels,
        site_web,
        horaires,
        presentation_resume,
        presentation_detail: text("presentation_detail"),
        source: text("source"),
        itinerance: vocabulary("itinerance", Vocabulary::Itinerance),
        structure_parente: text("structure_parente"),
        date_maj,
        services,
        publics_specifiquement_adresses: vocabulary(
            "publics_specifiquement_adresses",
            Vocabulary::Publics,
        ),
        prise_en_charge_specifique: vocabulary("prise_en_charge_specifique", Vocabulary::Support),
        frais_a_charge: vocabulary("frais_a_charge", Vocabulary::Fees),
        dispositif_programmes_nationaux: vocabulary(
            "dispositif_programmes_nationaux",
            Vocabulary::Programmes,
        ),
        formations_labels: vocabulary("formations_labels", Vocabulary::Labels),
        autres_formations_labels: text("autres_formations_labels"),
        modalites_acces: vocabulary("modalites_acces", Vocabulary::Access),
        modalites_accompagnement: vocabulary("modalites_accompagnement", Vocabulary::Accompaniment),
        fiche_acces_libre: optional_url("fiche_acces_libre"),
        prise_rdv: optional_url("prise_rdv"),
        x_wifi_public,
        x_postes_en_acces_libre,
    };
    Ok((place, warnings.into_inner()))
}

/// The longest `presentation_resume` kept whole.
const MAX_SUMMARY: usize = 500;

/// A SIRET (14 digits, Luhn-checked), an RNA number (W and 9 digits), or empty (also for the
/// schema's `00000000000000`).
pub fn parse_pivot(raw: &str) -> Result<String, Invalid> {
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() || compact == NO_PIVOT {
        return Ok(String::new());
    }
    if compact.len() == 14 && compact.chars().all(|c| c.is_ascii_digit()) {
        let sum: u32 = compact
            .chars()
            .rev()
            .enumerate()
            .map(|(i, c)| {
                let d = c.to_digit(10).unwrap_or(0);
                if i % 2 == 1 {
                    let doubled = d * 2;
                    if doubled > 9 { doubled - 9 } else { doubled }
                } else {
                    d
                }
            })
            .sum();
        // La Poste's establishments escape the Luhn rule.
        if sum.is_multiple_of(10) || compact.starts_with("356000000") {
            return Ok(compact);
        }
        return Err(Invalid::SiretCheckDigit);
    }
    let upper = compact.to_uppercase();
    if upper.len() == 10
        && upper.starts_with('W')
        && upper[1..].chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Ok(upper);
    }
    Err(Invalid::NotPivot)
}

/// Five digits; a lost leading zero (Excel) is put back.
pub fn parse_postcode(raw: &str) -> Result<String, Invalid> {
    let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    match digits.len() {
        0 => Err(Invalid::Required),
        4 if digits.chars().all(|c| c.is_ascii_digit()) => Ok(format!("0{digits}")),
        5 if digits.chars().all(|c| c.is_ascii_digit()) => Ok(digits),
        _ => Err(Invalid::NotPostcode),
    }
}

fn parse_insee(raw: &str) -> Result<String, Invalid> {
    let code = raw.trim().to_uppercase();
    if code.is_empty() {
        return Ok(code);
    }
    let code = if code.len() == 4 && code.chars().all(|c| c.is_ascii_digit()) {
        format!("0{code}")
    } else {
        code
    };
    // Only ASCII can be a code; checked first, so slicing below is on character boundaries.
    // Corsica's communes are 2A… and 2B… (since 1976): `20…` is not a commune code.
    let ok = code.len() == 5
        && code.is_ascii()
        && ((code[..2].chars().all(|c| c.is_ascii_digit()) && !code.starts_with("20"))
            || code.starts_with("2A")
            || code.starts_with("2B"))
        && code[2..].chars().all(|c| c.is_ascii_digit());
    if ok { Ok(code) } else { Err(Invalid::NotInsee) }
}

/// French numbers as people write them, to E.164 (`+33322…`); overseas numbers included.
pub fn parse_phone(raw: &str) -> Result<String, Invalid> {
    use phonenumber::country::Id;
    for region in [
        Id::FR,
        Id::RE,
        Id::GP,
        Id::MQ,
        Id::GF,
        Id::YT,
        Id::PM,
        Id::NC,
        Id::PF,
    ] {
        if let Ok(number) = phonenumber::parse(Some(region), raw)
            && phonenumber::is_valid(&number)
        {
            return Ok(schema_phone(
                &number.format().mode(phonenumber::Mode::E164).to_string(),
            ));
        }
    }
    // An overseas number written after France's +33 (`+33 6 92 …` for Réunion's 0692 …): read
    // it again as the national number it is.
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let national = digits
        .strip_prefix("0033")
        .or_else(|| {
            raw.trim_start()
                .starts_with('+')
                .then(|| digits.strip_prefix("33"))
                .flatten()
        })
        .map(|rest| format!("0{}", rest.strip_prefix('0').unwrap_or(rest)));
    if let Some(national) = national {
        for region in [Id::RE, Id::GP, Id::MQ, Id::GF, Id::YT, Id::PM] {
            if let Ok(number) = phonenumber::parse(Some(region), &national)
                && phonenumber::is_valid(&number)
            {
                return Ok(number.format().mode(phonenumber::Mode::E164).to_string());
            }
        }
    }
    Err(Invalid::NotPhone)
}

/// A number in E.164 as the national schema writes it: French Polynesia's eight digits as
/// `+689 40 123 456` (the schema's pattern has no other form for them), the rest unchanged.
fn schema_phone(e164: &str) -> String {
    match e164.strip_prefix("+689") {
        Some(rest) if rest.len() == 8 && rest.is_ascii() => {
            format!("+689 {} {} {}", &rest[..2], &rest[2..5], &rest[5..])
        }
        _ => e164.to_owned(),
    }
}

/// A web address the national schema accepts (the reference library's own rule): `http(s)://`,
/// a host of letters, digits, `.` and `-` (no port), then a path, query and fragment of the
/// characters it allows. Letters with accents are percent-encoded; `www.…` gets `https://`.
fn parse_url(raw: &str) -> Result<String, Invalid> {
    let raw = raw.trim();
    let url = if raw.starts_with("http://") || raw.starts_with("https://") {
        raw.to_owned()
    } else if raw.starts_with("www.") {
        format!("https://{raw}")
    } else {
        return Err(Invalid::NotUrl);
    };
    let (scheme, rest) = url.split_once("://").ok_or(Invalid::NotUrl)?;
    let (host, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let host_ok = host.contains('.')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !host_ok {
        return Err(Invalid::NotUrl);
    }
    let mut encoded = String::with_capacity(tail.len());
    for c in tail.chars() {
        if c.is_ascii() {
            encoded.push(c);
        } else {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    let (before_fragment, fragment) = encoded.split_once('#').unwrap_or((&encoded, ""));
    let (path, query) = before_fragment
        .split_once('?')
        .unwrap_or((before_fragment, ""));
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ok = path.chars().all(|c| word(c) || "+~,%@/.-".contains(c))
        && query.chars().all(|c| word(c) || "-+=&;%@.".contains(c))
        && fragment.chars().all(|c| word(c) || ".!/\\".contains(c));
    if !ok {
        return Err(Invalid::NotUrl);
    }
    Ok(format!("{scheme}://{host}{encoded}"))
}

/// A letter the national schema accepts in a commune or a street: ASCII letters and digits,
/// and the Latin letters of French (À–ÿ but × and ÷, Œ, œ, Ÿ…).
fn schema_letter(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || ('À'..='Ö').contains(&c)
        || ('Ø'..='ö').contains(&c)
        || ('ø'..='ÿ').contains(&c)
        || ('Œ'..='Ÿ').contains(&c)
}

/// `text` in the characters the national schema accepts for `adresse` (`street`) or
/// `commune`: long dashes made `-`, `_` a space, anything else it refuses (quotes, `#`…)
/// removed.
fn schema_text(text: &str, street: bool) -> String {
    let kept: String = text
        .chars()
        .map(|c| match c {
            '—' | '−' | '‐' | '‑' => '-',
            '–' if !street => '-',
            '_' => ' ',
            other => other,
        })
        .filter(|c| {
            schema_letter(*c)
                || c.is_whitespace()
                || "-'’".contains(*c)
                || (street && ",()°.&:+–|;/".contains(*c))
        })
        .collect();
    clean(&kept)
}

/// `YYYY-MM-DD`; `DD/MM/YYYY` is accepted and rewritten.
pub fn parse_date(raw: &str) -> Result<String, Invalid> {
    use time::macros::format_description;
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(Invalid::DateRequired);
    }
    let iso = format_description!("[year]-[month]-[day]");
    if let Ok(date) = time::Date::parse(raw, iso) {
        return Ok(date.format(iso).unwrap_or_default());
    }
    if let Ok(date) = time::Date::parse(raw, format_description!("[day]/[month]/[year]")) {
        return Ok(date.format(iso).unwrap_or_default());
    }
    Err(Invalid::NotDate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insee_codes_of_any_writing_are_checked_without_panicking() {
        assert_eq!(parse_insee("80021").unwrap(), "80021");
        assert_eq!(parse_insee("2a004").unwrap(), "2A004");
        assert_eq!(parse_insee("1234").unwrap(), "01234");
        for bad in ["AÉ12", "1é23", "é1234", "800211", "8002x", "ÉÉ", "20004"] {
            assert!(parse_insee(bad).is_err(), "{bad}");
        }
    }

    /// A row of the Amiens kind with `changes` applied.
    fn row(changes: &[(&str, &str)]) -> impl Fn(&str) -> String {
        let mut fields: std::collections::HashMap<String, String> = [
            ("id", "lieu"),
            ("nom", "Espace numérique"),
            ("commune", "Amiens"),
            ("code_postal", "80000"),
            ("code_insee", "80021"),
            ("adresse", "1 rue de la République"),
            ("services", "Aide aux démarches administratives"),
            ("date_maj", "2026-06-01"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in changes {
            fields.insert((*k).to_owned(), (*v).to_owned());
        }
        move |field: &str| fields.get(field).cloned().unwrap_or_default()
    }

    #[test]
    fn saint_barthelemy_and_saint_martin_postcodes_agree_with_their_insee_codes() {
        for (postcode, insee) in [("97133", "97701"), ("97150", "97801"), ("97100", "97105")] {
            let parsed =
                parse_record(2, &row(&[("code_postal", postcode), ("code_insee", insee)])).unwrap();
            assert!(
                parsed.warnings.is_empty(),
                "{postcode} {insee}: {:?}",
                parsed.warnings
            );
        }
        let doubtful = parse_record(2, &row(&[("code_postal", "60000")])).unwrap();
        assert_eq!(doubtful.warnings[0].field, "code_postal");
        assert!(
            parse_strict(&row(&[("code_postal", "60000")])).is_ok(),
            "a hand edit is not blocked by a postcode outside the INSEE code's department"
        );
    }

    #[test]
    fn a_date_maj_still_to_come_is_replaced_by_today_with_a_warning() {
        let parsed = parse_record(2, &row(&[("date_maj", "2099-01-01")])).unwrap();
        let today = time::OffsetDateTime::now_utc().date().to_string();
        assert_eq!(parsed.place.date_maj, today);
        assert_eq!(
            (
                parsed.warnings[0].field.as_str(),
                parsed.warnings[0].value.as_str()
            ),
            ("date_maj", "2099-01-01")
        );
        assert!(parse_strict(&row(&[("date_maj", "2099-01-01")])).is_err());
        assert!(
            parse_record(2, &row(&[("date_maj", &today)]))
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn web_addresses_as_the_schema_takes_them() {
        assert_eq!(
            parse_url("https://acceslibre.beta.gouv.fr/app/80/a/bibliothèque/").unwrap(),
            "https://acceslibre.beta.gouv.fr/app/80/a/biblioth%C3%A8que/"
        );
        assert_eq!(
            parse_url("www.amiens.fr/rdv?lieu=12&jour=mardi").unwrap(),
            "https://www.amiens.fr/rdv?lieu=12&jour=mardi"
        );
        for bad in [
            "https://www.exemple.fr:8080/page",
            "https://localhost/",
            "https://www.exemple.fr/a b",
            "https://www.exemple.fr/(page)",
            "ftp.exemple.fr",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn street_and_commune_keep_only_what_the_schema_accepts() {
        assert_eq!(schema_text("Amiens «centre»", false), "Amiens centre");
        assert_eq!(
            schema_text("Saint-Ouen—sur—Seine", false),
            "Saint-Ouen-sur-Seine"
        );
        assert_eq!(
            schema_text("12 rue #Victor_Hugo (bât. B), 2° étage", true),
            "12 rue Victor Hugo (bât. B), 2° étage"
        );
        let parsed = parse_record(3, &row(&[("commune", "Amiens «centre»")])).unwrap();
        assert_eq!(parsed.place.commune, "Amiens centre");
        assert_eq!(parsed.warnings[0].field, "commune");
        assert!(parse_record(3, &row(&[("commune", "«»")])).is_err());
    }

    #[test]
    fn identifiers_and_codes() {
        assert_eq!(parse_pivot("434 933 123 00029").unwrap(), "43493312300029");
        assert_eq!(parse_pivot("12345678901234"), Err(Invalid::SiretCheckDigit));
        assert_eq!(parse_pivot("73282932000074").unwrap(), "73282932000074");
        assert_eq!(parse_pivot("w751234567").unwrap(), "W751234567");
        assert_eq!(parse_postcode("8000").unwrap(), "08000");
        assert!(parse_postcode("800").is_err());
        assert_eq!(parse_insee("2a004").unwrap(), "2A004");
        assert_eq!(parse_date("02/06/2026").unwrap(), "2026-06-02");
    }

    #[test]
    fn phones_in_every_common_writing() {
        for raw in [
            "03 22 97 10 10",
            "03.22.97.10.10",
            "+33 3 22 97 10 10",
            "0322971010",
            "(0)3 22 97 10 10",
        ] {
            assert_eq!(parse_phone(raw).unwrap(), "+33322971010", "{raw}");
        }
        assert_eq!(parse_phone("0262 12 34 56").unwrap(), "+262262123456");
        assert_eq!(parse_phone("+689 40 47 00 00").unwrap(), "+689 40 470 000");
        assert_eq!(parse_phone("+689 40 470 000").unwrap(), "+689 40 470 000");
        assert!(parse_phone("12").is_err());
    }
}
