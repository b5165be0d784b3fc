//! The directory in data·inclusion's form, the national referential of social services
//! (`data.inclusion.beta.gouv.fr`): each place is a structure and a "Médiation numérique"
//! service of that structure. The mapping is the national reference library's own
//! (`@gouvfr-anct/lieux-de-mediation-numerique`, `toSchemaStructureDataInclusion` and
//! `toSchemaServiceDataInclusion`), value for value, so the two agree — the test suite checks it.

use serde_json::{Map, Value, json};

use crate::schema::Place;

/// The data·inclusion themes ("thématiques") each service of the schema stands for.
fn themes(service: &str) -> &'static [&'static str] {
    match service {
        "Acquisition de matériel informatique à prix solidaire" => {
            &["numerique--s-equiper-en-materiel-informatique"]
        }
        "Aide aux démarches administratives" => &[
            "numerique--realiser-des-demarches-administratives-avec-un-accompagnement",
            "numerique--devenir-autonome-dans-les-demarches-administratives",
            "numerique--accompagner-les-demarches-de-sante",
        ],
        "Maîtrise des outils numériques du quotidien" => &[
            "numerique--prendre-en-main-un-smartphone-ou-une-tablette",
            "numerique--prendre-en-main-un-ordinateur",
            "numerique--utiliser-le-numerique-au-quotidien",
        ],
        "Insertion professionnelle via le numérique" => &[
            "numerique--favoriser-mon-insertion-professionnelle",
            "numerique--creer-et-developper-mon-entreprise",
        ],
        "Parentalité et éducation avec le numérique" => {
            &["numerique--soutenir-la-parentalite-et-l-education-avec-le-numerique"]
        }
        "Loisirs et créations numériques" => &["numerique--creer-avec-le-numerique"],
        "Compréhension du monde numérique" => &[
            "numerique--approfondir-ma-culture-numerique",
            "numerique--promouvoir-la-citoyennete-numerique",
        ],
        "Accès internet et matériel informatique" => &[
            "numerique--acceder-a-une-connexion-internet",
            "numerique--acceder-a-du-materiel",
        ],
        _ => &[],
    }
}

fn label(value: &str) -> Option<&'static str> {
    Some(match value {
        "Aidants Connect" => "aidants-connect",
        "Conseillers numériques" => "conseiller-numerique",
        "France Services" => "france-service",
        "Grande école du numérique" => "grandes-ecoles-du-numerique",
        "Point d'accès numérique CAF" => "caf",
        "Formé à « Mon Espace Santé »" => "mon-espace-sante",
        "Formé à « DUPLEX » (illettrisme)" => "duplex",
        "Arnia/MedNum BFC (Bourgogne-Franche-Comté)" => "arnia",
        "Collectif ressources et acteurs réemploi (Normandie)" => "ressources-reemploi",
        "Étapes numériques (La Poste)" => "etapes-numeriques",
        "Fabriques de Territoire" => "fabrique-de-territoire",
        "Les Éclaireurs du numérique (Drôme)" => "les-eclaireurs",
        "Mes Papiers (Métropole de Lyon)" => "mes-papiers",
        "ORDI 3.0" => "ordi-3",
        "SUD LABS (PACA)" => "sud-labs",
        _ => return None,
    })
}

fn profile(value: &str) -> Option<&'static str> {
    Some(match value {
        "Seniors" => "seniors-65",
        "Familles et/ou enfants" => "familles-enfants",
        "Jeunes" => "jeunes-16-26",
        "Femmes" => "femmes",
        "Langues étrangères (anglais)" | "Langues étrangères (autres)" => {
            "public-langues-etrangeres"
        }
        "Déficience visuelle" => "deficience-visuelle",
        "Surdité" => "surdite",
        "Handicaps mentaux" => "handicaps-mentaux",
        "Illettrisme" => "personnes-en-situation-illettrisme",
        _ => return None,
    })
}

/// Values mapped one by one, unknown ones left out, each kept once, in order.
fn mapped<'a>(
    values: impl IntoIterator<Item = &'a String>,
    map: fn(&str) -> Option<&'static str>,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    for value in values.into_iter().filter_map(|v| map(v)) {
        if !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

fn theme_list(place: &Place) -> Vec<&'static str> {
    std::iter::once("numerique")
        .chain(
            place
                .services
                .iter()
                .flat_map(|s| themes(s).iter().copied()),
        )
        .collect()
}

/// Puts `value` under `key` when `text` is not empty.
fn put_text(object: &mut Map<String, Value>, key: &str, text: &str) {
    if !text.is_empty() {
        object.insert(key.to_owned(), json!(text));
    }
}

/// A summary as data·inclusion takes it: at most 280 characters (counted, like the reference
/// library, in UTF-16 units), else cut at 277 and ended with "...".
fn summary(text: &str) -> String {
    let units: Vec<u16> = text.encode_utf16().collect();
    if units.len() > 280 {
        format!("{}...", String::from_utf16_lossy(&units[..277]))
    } else {
        text.to_owned()
    }
}

/// A place as a data·inclusion structure.
pub fn structure(place: &Place) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), json!(place.id));
    object.insert("nom".into(), json!(place.nom));
    object.insert("siret".into(), json!(place.column("pivot")));
    if let Some(first) = place.typologie.first() {
        object.insert("typologie".into(), json!(first));
    }
    put_text(&mut object, "structure_parente", &place.structure_parente);
    put_text(&mut object, "accessibilite", &place.fiche_acces_libre);
    object.insert("thematiques".into(), json!(theme_list(place)));
    object.insert("commune".into(), json!(place.commune));
    object.insert("code_postal".into(), json!(place.code_postal));
    object.insert("adresse".into(), json!(place.adresse));
    put_text(&mut object, "code_insee", &place.code_insee);
    put_text(&mut object, "complement_adresse", &place.complement_adresse);
    put_text(&mut object, "source", &place.source);
    object.insert(
        "date_maj".into(),
        json!(format!("{}T00:00:00.000Z", place.date_maj)),
    );
    if let (Some(lat), Some(lon)) = (place.latitude, place.longitude) {
        object.insert("latitude".into(), json!(lat));
        object.insert("longitude".into(), json!(lon));
    }
    put_text(&mut object, "telephone", &place.telephone);
    if let Some(mail) = place.courriels.first() {
        object.insert("courriel".into(), json!(mail));
    }
    if let Some(site) = place.site_web.first() {
        object.insert("site_web".into(), json!(site));
    }
    put_text(
        &mut object,
        "presentation_resume",
        &summary(&place.presentation_resume),
    );
    put_text(
        &mut object,
        "presentation_detail",
        &place.presentation_detail,
    );
    put_text(&mut object, "horaires_ouverture", &place.horaires);
    // The library gives national labels only when the place names a national programme.
    if !place.dispositif_programmes_nationaux.is_empty() {
        let labels = mapped(
            place
                .dispositif_programmes_nationaux
                .iter()
                .chain(&place.formations_labels),
            label,
        );
        object.insert("labels_nationaux".into(), json!(labels));
    }
    if !place.autres_formations_labels.is_empty() {
        let others: Vec<&str> = place.autres_formations_labels.split('|').collect();
        object.insert("labels_autres".into(), json!(others));
    }
    Value::Object(object)
}

/// A place's "Médiation numérique" service, as data·inclusion lists services. A place with no
/// `source` is said to come from Passerelle (data·inclusion requires one).
pub fn service(place: &Place) -> Value {
    let mut object = Map::new();
    object.insert(
        "id".into(),
        json!(format!("{}-mediation-numerique", place.id)),
    );
    object.insert("structure_id".into(), json!(place.id));
    object.insert("nom".into(), json!("Médiation numérique"));
    let source = if place.source.is_empty() {
        "passerelle"
    } else {
        &place.source
    };
    object.insert("source".into(), json!(source));
    put_text(&mut object, "prise_rdv", &place.prise_rdv);
    object.insert("thematiques".into(), json!(theme_list(place)));
    let accompaniment = &place.modalites_accompagnement;
    if !accompaniment.is_empty() {
        let types = mapped(accompaniment, |m| match m {
            "En autonomie" => Some("autonomie"),
            "Accompagnement individuel" => Some("accompagnement"),
            "Dans un atelier collectif" => Some("atelier"),
            _ => None,
        });
        if !types.is_empty() {
            object.insert("types".into(), json!(types));
        }
        let mut modes = Vec::new();
        if accompaniment.iter().any(|m| m == "À distance") {
            modes.push("a-distance");
        }
        if accompaniment.iter().any(|m| m != "À distance") {
            modes.push("en-presentiel");
        }
        object.insert("modes_accueil".into(), json!(modes));
    }
    if let Some(fees) = place.frais_a_charge.first() {
        let fee = match fees.as_str() {
            "Gratuit" => Some("gratuit"),
            "Gratuit sous condition" => Some("gratuit-sous-conditions"),
            "Payant" => Some("payant"),
            _ => None,
        };
        if let Some(fee) = fee {
            object.insert("frais".into(), json!([fee]));
        }
    }
    if !place.publics_specifiquement_adresses.is_empty()
        || !place.prise_en_charge_specifique.is_empty()
    {
        let profiles = mapped(
            place
                .prise_en_charge_specifique
                .iter()
                .chain(&place.publics_specifiquement_adresses),
            profile,
        );
        object.insert("profils".into(), json!(profiles));
    }
    if !place.modalites_acces.is_empty() {
        let companion: Vec<&str> = mapped(&place.modalites_acces, |m| match m {
            "Contacter par mail" => Some("envoyer-un-mail"),
            "Envoyer un mail avec une fiche de prescription" => {
                Some("envoyer-un-mail-avec-une-fiche-de-prescription")
            }
            "Téléphoner" => Some("telephoner"),
            _ => None,
        });
        let beneficiary: Vec<&str> = mapped(&place.modalites_acces, |m| match m {
            "Contacter par mail" => Some("envoyer-un-mail"),
            "Se présenter" => Some("se-presenter"),
            "Téléphoner" => Some("telephoner"),
            _ => None,
        });
        object.insert("modes_orientation_accompagnateur".into(), json!(companion));
        object.insert("modes_orientation_beneficiaire".into(), json!(beneficiary));
    }
    Value::Object(object)
}

/// Every place as `{"structures": […], "services": […]}`.
pub fn write(places: &[&Place]) -> Value {
    json!({
        "structures": places.iter().map(|p| structure(p)).collect::<Vec<_>>(),
        "services": places.iter().map(|p| service(p)).collect::<Vec<_>>(),
    })
}
