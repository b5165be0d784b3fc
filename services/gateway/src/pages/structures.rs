//! The registry of structures, for admins: the CCAS antennas, France Services, associations…
//! that staff accounts and mandates name (the identity service holds the rules and the list).

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::response::Response;
use http::StatusCode;
use passerelle_proto::identity::v1 as id;
use serde::Deserialize;

use crate::page::{Chrome, Ctx};

/// The kinds, as the form offers them: the form's value, the protobuf kind, the message key.
const KINDS: [(&str, id::StructureKind, &str); 6] = [
    ("ccas", id::StructureKind::Ccas, "structure-kind-ccas"),
    (
        "france-services",
        id::StructureKind::FranceServices,
        "structure-kind-france-services",
    ),
    (
        "association",
        id::StructureKind::Association,
        "structure-kind-association",
    ),
    (
        "library",
        id::StructureKind::Library,
        "structure-kind-library",
    ),
    (
        "town-hall",
        id::StructureKind::TownHall,
        "structure-kind-town-hall",
    ),
    ("other", id::StructureKind::Other, "structure-kind-other"),
];

/// One structure of the list, in words.
struct Line {
    id: String,
    name: String,
    kind: String,
}

/// A kind the form offers: its value and its words.
struct Kind {
    value: &'static str,
    label: String,
}

#[derive(Template)]
#[template(path = "structures.html")]
struct StructuresPage {
    chrome: Chrome,
    lines: Vec<Line>,
    kinds: Vec<Kind>,
    /// What the form holds: empty for a new structure, the chosen one's values to rename it.
    form: StructureForm,
    problem: Option<String>,
    saved: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct StructureForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct EditQuery {
    modifier: Option<String>,
}

fn is_admin(ctx: &Ctx) -> Option<bool> {
    ctx.signed_in().map(|s| s.has_role("admin"))
}

async fn page(
    ctx: &Ctx,
    status: StatusCode,
    form: StructureForm,
    problem: Option<String>,
    saved: Option<String>,
) -> Response {
    let lines = ctx
        .structures()
        .await
        .into_iter()
        .map(|s| Line {
            kind: KINDS
                .iter()
                .find(|(_, kind, _)| *kind as i32 == s.kind)
                .map_or_else(String::new, |(_, _, key)| ctx.tr.t(key)),
            id: s.id,
            name: s.display_name,
        })
        .collect();
    let kinds = KINDS
        .iter()
        .map(|(value, _, key)| Kind {
            value,
            label: ctx.tr.t(key),
        })
        .collect();
    ctx.html_with(
        status,
        &StructuresPage {
            chrome: ctx.chrome("structures-title"),
            lines,
            kinds,
            form,
            problem,
            saved,
        },
    )
}

/// `GET /structures`: the list, and a form to add one (or rename the one `?modifier=` names).
pub async fn list(ctx: Ctx, Query(query): Query<EditQuery>) -> Response {
    match is_admin(&ctx) {
        None => return ctx.to_sign_in(),
        Some(false) => return ctx.message(StatusCode::FORBIDDEN, "error-denied", None),
        Some(true) => {}
    }
    let form = match query.modifier {
        Some(chosen) => ctx
            .structures()
            .await
            .into_iter()
            .find(|s| s.id == chosen)
            .map(|s| StructureForm {
                kind: KINDS
                    .iter()
                    .find(|(_, kind, _)| *kind as i32 == s.kind)
                    .map_or("other", |(value, _, _)| value)
                    .to_owned(),
                id: s.id,
                name: s.display_name,
                ..Default::default()
            })
            .unwrap_or_default(),
        None => StructureForm::default(),
    };
    page(&ctx, StatusCode::OK, form, None, None).await
}

/// `POST /structures`: saves a structure (a known id renames it).
pub async fn save(ctx: Ctx, Form(form): Form<StructureForm>) -> Response {
    match is_admin(&ctx) {
        None => return ctx.to_sign_in(),
        Some(false) => return ctx.message(StatusCode::FORBIDDEN, "error-denied", None),
        Some(true) => {}
    }
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let kind = KINDS
        .iter()
        .find(|(value, _, _)| *value == form.kind)
        .map_or(id::StructureKind::Unspecified, |(_, kind, _)| *kind);
    let reply = ctx
        .identity()
        .save_structure(id::SaveStructureRequest {
            structure: Some(id::Structure {
                id: form.id.trim().to_owned(),
                display_name: form.name.trim().to_owned(),
                kind: kind as i32,
            }),
        })
        .await;
    match reply {
        Ok(saved) => {
            let saved = saved.into_inner();
            let done = ctx.tr.t1("structures-saved", "name", saved.display_name);
            page(
                &ctx,
                StatusCode::OK,
                StructureForm::default(),
                None,
                Some(done),
            )
            .await
        }
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            let problem = format!("{} ({})", ctx.tr.t("error-invalid"), status.message());
            page(
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                Some(problem),
                None,
            )
            .await
        }
        Err(status) => ctx.failure(&status),
    }
}
