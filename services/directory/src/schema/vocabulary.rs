//! The schema's fixed lists of values, matched whatever their case, accents or older long
//! forms.

use deunicode::deunicode;

/// A field of the schema that holds values from a fixed list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vocabulary {
    Services,
    Publics,
    Support,
    Fees,
    Programmes,
    Labels,
    Access,
    Accompaniment,
    Itinerance,
    /// The structure types (`typologie`) the national reference library accepts.
    Typologie,
}

/// The structure types of the national schema, as the reference library
/// (`@gouvfr-anct/lieux-de-mediation-numerique` 2.3.0, `Typologie`) lists them.
const TYPOLOGIES: &[&str] = &[
    "ACI",
    "ACIPHC",
    "AFPA",
    "AI",
    "ASE",
    "ASSO",
    "ASSO_CHOMEUR",
    "Autre",
    "AVIP",
    "BIB",
    "CAARUD",
    "CADA",
    "CAF",
    "CAP_EMPLOI",
    "CAVA",
    "CC",
    "CCAS",
    "CCONS",
    "CD",
    "CDAS",
    "CFP",
    "CHRS",
    "CHU",
    "CIAS",
    "CIDFF",
    "CITMET",
    "CMP",
    "CMS",
    "CPAM",
    "CPH",
    "CS",
    "CSAPA",
    "CSC",
    "DEETS",
    "DEPT",
    "DIPLP",
    "E2C",
    "EA",
    "EATT",
    "EI",
    "EITI",
    "ENM",
    "EPCI",
    "EPI",
    "EPIDE",
    "EPN",
    "ES",
    "ESAT",
    "ESS",
    "ETTI",
    "EVS",
    "FABLAB",
    "FABRIQUE",
    "FAIS",
    "FT",
    "GEIQ",
    "HUDA",
    "LA_POSTE",
    "MDE",
    "MDH",
    "MDEF",
    "MDPH",
    "MDS",
    "MJC",
    "ML",
    "MQ",
    "MSA",
    "MSAP",
    "MUNI",
    "OACAS",
    "ODC",
    "OF",
    "OIL",
    "OPCS",
    "PAD",
    "PENSION",
    "PI",
    "PIJ_BIJ",
    "PIMMS",
    "PJJ",
    "PLIE",
    "PREF",
    "PREVENTION",
    "REG",
    "RELAIS_LECTURE",
    "RESSOURCERIE",
    "RFS",
    "RS_FJT",
    "SCP",
    "SPIP",
    "TIERS_LIEUX",
    "UDAF",
];

impl Vocabulary {
    pub fn values(self) -> &'static [&'static str] {
        match self {
            Vocabulary::Services => &[
                "Aide aux démarches administratives",
                "Maîtrise des outils numériques du quotidien",
                "Insertion professionnelle via le numérique",
                "Utilisation sécurisée du numérique",
                "Parentalité et éducation avec le numérique",
                "Loisirs et créations numériques",
                "Compréhension du monde numérique",
                "Accès internet et matériel informatique",
                "Acquisition de matériel informatique à prix solidaire",
            ],
            Vocabulary::Publics => &[
                "Jeunes",
                "Étudiants",
                "Familles et/ou enfants",
                "Seniors",
                "Femmes",
            ],
            Vocabulary::Support => &[
                "Surdité",
                "Handicaps moteurs",
                "Handicaps mentaux",
                "Illettrisme",
                "Langues étrangères (anglais)",
                "Langues étrangères (autres)",
                "Déficience visuelle",
            ],
            Vocabulary::Fees => &["Gratuit", "Gratuit sous condition", "Payant"],
            Vocabulary::Programmes => &[
                "Aidants Connect",
                "Bibliothèques numérique de référence",
                "Certification PIX",
                "Conseillers numériques",
                "Emmaüs Connect",
                "France Services",
                "Grande école du numérique",
                "La Croix Rouge",
                "Point d'accès numérique CAF",
                "Promeneurs du net",
                "Relais numérique (Emmaüs Connect)",
            ],
            Vocabulary::Labels => &[
                "Formé à « Mon Espace Santé »",
                "Formé à « DUPLEX » (illettrisme)",
                "Arnia/MedNum BFC (Bourgogne-Franche-Comté)",
                "Collectif ressources et acteurs réemploi (Normandie)",
                "Étapes numériques (La Poste)",
                "Fabriques de Territoire",
                "Les Éclaireurs du numérique (Drôme)",
                "Mes Papiers (Métropole de Lyon)",
                "ORDI 3.0",
                "SUD LABS (PACA)",
            ],
            Vocabulary::Access => &[
                "Se présenter",
                "Téléphoner",
                "Contacter par mail",
                "Prendre un RDV en ligne",
                "Ce lieu n'accueille pas de public",
                "Envoyer un mail avec une fiche de prescription",
            ],
            Vocabulary::Accompaniment => &[
                "En autonomie",
                "Accompagnement individuel",
                "Dans un atelier collectif",
                "À distance",
            ],
            Vocabulary::Itinerance => &["Fixe", "Itinérant"],
            Vocabulary::Typologie => TYPOLOGIES,
        }
    }

    /// The canonical value `raw` stands for, whatever its case, accents or long form.
    pub fn canonical(self, raw: &str) -> Option<&'static str> {
        let key = match_key(raw);
        if key.is_empty() {
            return None;
        }
        // Older schema versions wrote long forms: "Gratuit : Je peux…", "À distance (par téléphone…)".
        let prefix = |long: &str| {
            let short = long
                .split([':', '('])
                .next()
                .unwrap_or(long)
                .trim()
                .to_owned();
            match_key(&short)
        };
        self.values()
            .iter()
            .find(|v| match_key(v) == key)
            .or_else(|| {
                self.values()
                    .iter()
                    .find(|v| match_key(v) == prefix(raw) && !prefix(raw).is_empty())
            })
            .copied()
    }
}

/// Lowercase ASCII letters and digits only: the key values are compared on.
pub fn match_key(text: &str) -> String {
    deunicode(text)
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_matches_case_accents_and_long_forms() {
        assert_eq!(
            Vocabulary::Services.canonical("aide aux demarches administratives"),
            Some("Aide aux démarches administratives")
        );
        assert_eq!(
            Vocabulary::Fees
                .canonical("Gratuit : Je peux accéder gratuitement au lieu et à ses services"),
            Some("Gratuit")
        );
        assert_eq!(
            Vocabulary::Fees.canonical("GRATUIT SOUS CONDITION"),
            Some("Gratuit sous condition")
        );
        assert_eq!(
            Vocabulary::Accompaniment.canonical("À distance (par téléphone ou en visioconférence)"),
            Some("À distance")
        );
        assert_eq!(Vocabulary::Support.canonical("surdite"), Some("Surdité"));
        assert_eq!(Vocabulary::Services.canonical("Jardinage"), None);
    }
}
