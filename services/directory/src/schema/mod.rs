//! The national schema of digital mediation places ("schéma des lieux de médiation numérique",
//! LaMednum/standard-mediation-num), read from messy real-world files and written back clean.
//!
//! Multi-valued fields are written `|`-separated; `;` is accepted on the way in (older files).
//! Enumerated values are matched whatever their case and accents, and the long forms of older
//! schema versions ("Gratuit : Je peux accéder gratuitement…") map to the current short ones.
//! Two Passerelle extension columns, `x_wifi_public` and `x_postes_en_acces_libre`, describe
//! wifi hotspots and public computers; other tools ignore them.

use serde::{Deserialize, Serialize};

mod parse;
mod vocabulary;

pub use parse::{
    Parsed, Problem, Rejection, Warning, parse_date, parse_phone, parse_pivot, parse_postcode,
    parse_record, parse_strict,
};
pub use vocabulary::{Vocabulary, match_key};

/// A place, clean.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Place {
    pub id: String,
    pub pivot: String,
    pub nom: String,
    pub commune: String,
    pub code_postal: String,
    pub code_insee: String,
    pub adresse: String,
    pub complement_adresse: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub typologie: Vec<String>,
    pub telephone: String,
    pub courriels: Vec<String>,
    pub site_web: Vec<String>,
    pub horaires: String,
    pub presentation_resume: String,
    pub presentation_detail: String,
    pub source: String,
    pub itinerance: Vec<String>,
    pub structure_parente: String,
    pub date_maj: String,
    pub services: Vec<String>,
    pub publics_specifiquement_adresses: Vec<String>,
    pub prise_en_charge_specifique: Vec<String>,
    pub frais_a_charge: Vec<String>,
    pub dispositif_programmes_nationaux: Vec<String>,
    pub formations_labels: Vec<String>,
    pub autres_formations_labels: String,
    pub modalites_acces: Vec<String>,
    pub modalites_accompagnement: Vec<String>,
    pub fiche_acces_libre: String,
    pub prise_rdv: String,
    /// Passerelle extension: free public wifi.
    pub x_wifi_public: bool,
    /// Passerelle extension: computers in free access.
    pub x_postes_en_acces_libre: u32,
}

/// The columns, in the schema's order, then Passerelle's extensions.
pub const COLUMNS: [&str; 34] = [
    "id",
    "pivot",
    "nom",
    "commune",
    "code_postal",
    "code_insee",
    "adresse",
    "complement_adresse",
    "latitude",
    "longitude",
    "typologie",
    "telephone",
    "courriels",
    "site_web",
    "horaires",
    "presentation_resume",
    "presentation_detail",
    "source",
    "itinerance",
    "structure_parente",
    "date_maj",
    "services",
    "publics_specifiquement_adresses",
    "prise_en_charge_specifique",
    "frais_a_charge",
    "dispositif_programmes_nationaux",
    "formations_labels",
    "autres_formations_labels",
    "modalites_acces",
    "modalites_accompagnement",
    "fiche_acces_libre",
    "prise_rdv",
    "x_wifi_public",
    "x_postes_en_acces_libre",
];

/// The department of an INSEE commune code: `80`, `2A`, `974`.
fn department_of_insee(code: &str) -> String {
    if code.starts_with("97") || code.starts_with("98") {
        code.get(..3).unwrap_or(code).to_owned()
    } else {
        code.get(..2).unwrap_or(code).to_owned()
    }
}

/// The department a postcode is in, as far as the postcode says: Corsica's `20…` split into
/// `2A` (200–201) and `2B` (202–206), overseas on three digits, Saint-Barthélemy (97133) and
/// Saint-Martin (97150) apart from Guadeloupe.
fn department_of_postcode(code: &str) -> String {
    // Saint-Barthélemy and Saint-Martin have Guadeloupe's postcodes, their own INSEE codes.
    match code {
        "97133" => return "977".into(),
        "97150" => return "978".into(),
        _ => {}
    }
    if code.starts_with("97") || code.starts_with("98") {
        code.get(..3).unwrap_or(code).to_owned()
    } else if code.starts_with("20") {
        if code.as_bytes().get(2).is_some_and(|d| *d <= b'1') {
            "2A".into()
        } else {
            "2B".into()
        }
    } else {
        code.get(..2).unwrap_or(code).to_owned()
    }
}

/// Whether a postcode agrees with the place's INSEE code (true when there is no INSEE code).
pub fn postcode_agrees(place: &Place) -> bool {
    place.code_insee.is_empty()
        || department_of_insee(&place.code_insee) == department_of_postcode(&place.code_postal)
}

/// What the schema writes for a place with neither SIRET nor RNA number.
pub const NO_PIVOT: &str = "00000000000000";

impl Place {
    /// The value of a column, as written in CSV (`|` between values).
    pub fn column(&self, name: &str) -> String {
        let join = |v: &Vec<String>| v.join("|");
        match name {
            "id" => self.id.clone(),
            // The schema's "no pivot".
            "pivot" if self.pivot.is_empty() => NO_PIVOT.into(),
            "pivot" => self.pivot.clone(),
            "nom" => self.nom.clone(),
            "commune" => self.commune.clone(),
            "code_postal" => self.code_postal.clone(),
            "code_insee" => self.code_insee.clone(),
            "adresse" => self.adresse.clone(),
            "complement_adresse" => self.complement_adresse.clone(),
            "latitude" => self.latitude.map(|v| v.to_string()).unwrap_or_default(),
            "longitude" => self.longitude.map(|v| v.to_string()).unwrap_or_default(),
            "typologie" => join(&self.typologie),
            "telephone" => self.telephone.clone(),
            "courriels" => join(&self.courriels),
            "site_web" => join(&self.site_web),
            "horaires" => self.horaires.clone(),
            "presentation_resume" => self.presentation_resume.clone(),
            "presentation_detail" => self.presentation_detail.clone(),
            "source" => self.source.clone(),
            "itinerance" => join(&self.itinerance),
            "structure_parente" => self.structure_parente.clone(),
            "date_maj" => self.date_maj.clone(),
            "services" => join(&self.services),
            "publics_specifiquement_adresses" => join(&self.publics_specifiquement_adresses),
            "prise_en_charge_specifique" => join(&self.prise_en_charge_specifique),
            "frais_a_charge" => join(&self.frais_a_charge),
            "dispositif_programmes_nationaux" => join(&self.dispositif_programmes_nationaux),
            "formations_labels" => join(&self.formations_labels),
            "autres_formations_labels" => self.autres_formations_labels.clone(),
            "modalites_acces" => join(&self.modalites_acces),
            "modalites_accompagnement" => join(&self.modalites_accompagnement),
            "fiche_acces_libre" => self.fiche_acces_libre.clone(),
            "prise_rdv" => self.prise_rdv.clone(),
            "x_wifi_public" => {
                if self.x_wifi_public {
                    "Oui".into()
                } else {
                    "Non".into()
                }
            }
            "x_postes_en_acces_libre" => self.x_postes_en_acces_libre.to_string(),
            _ => String::new(),
        }
    }

    /// The department (`80`, `2A`, `974`…) the place belongs to, from its INSEE or postcode.
    pub fn department(&self) -> String {
        if self.code_insee.is_empty() {
            department_of_postcode(&self.code_postal)
        } else {
            department_of_insee(&self.code_insee)
        }
    }
}
