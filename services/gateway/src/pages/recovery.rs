//! Getting a person back into their account at the desk: a first agent records how the person
//! proved they are here (their recovery sheet's code, or an identity document), a second agent
//! of the same structure checks the document too, sets the new code typed by the person, and a
//! new recovery sheet is printed. The identity service holds every rule, tells the person by
//! SMS, and writes it in their audit trail.

use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::response::Response;
use http::StatusCode;
use passerelle_proto::identity::v1 as id;
use serde::Deserialize;

use crate::page::{Chrome, Ctx};
use crate::pages::person::date_of;

/// The identity document kinds an agent picks from, as `(value, message id)`.
const DOCUMENTS: &[(i32, &str)] = &[
    (
        id::IdentityDocumentKind::IdentityCard as i32,
        "type-identity-card",
    ),
    (id::IdentityDocumentKind::Passport as i32, "type-passport"),
    (
        id::IdentityDocumentKind::ResidencePermit as i32,
        "type-residence-permit",
    ),
    (
        id::IdentityDocumentKind::DrivingLicence as i32,
        "document-driving-licence",
    ),
    (
        id::IdentityDocumentKind::AsylumCertificate as i32,
        "document-asylum",
    ),
];

fn documents(ctx: &Ctx) -> Vec<(i32, String)> {
    DOCUMENTS.iter().map(|(v, k)| (*v, ctx.tr.t(k))).collect()
}

#[derive(Template)]
#[template(path = "recovery_start.html")]
struct StartPage {
    chrome: Chrome,
    person_id: String,
    documents: Vec<(i32, String)>,
    problem: Option<String>,
}

/// `GET /personnes/{id}/recuperation`.
pub async fn start_form(ctx: Ctx, Path(person_id): Path<String>) -> Response {
    if ctx.signed_in().is_none() {
        return ctx.to_sign_in();
    }
    ctx.html(&StartPage {
        chrome: ctx.chrome("recovery-title"),
        person_id,
        documents: documents(&ctx),
        problem: None,
    })
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    sheet_code: String,
    #[serde(default)]
    document_kind: String,
    #[serde(default)]
    document_number: String,
    #[serde(default)]
    note: String,
}

#[derive(Template)]
#[template(path = "recovery_started.html")]
struct StartedPage {
    chrome: Chrome,
    recovery_id: String,
    until: String,
}

/// `POST /personnes/{id}/recuperation`.
pub async fn start(
    ctx: Ctx,
    Path(person_id): Path<String>,
    Form(form): Form<StartForm>,
) -> Response {
    if ctx.signed_in().is_none() {
        return ctx.to_sign_in();
    }
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let presence = if !form.sheet_code.trim().is_empty() {
        id::start_assisted_recovery_request::Presence::SheetCode(form.sheet_code.trim().to_owned())
    } else if !form.document_number.trim().is_empty() {
        id::start_assisted_recovery_request::Presence::IdentityDocument(id::IdentityDocument {
            kind: form.document_kind.parse().unwrap_or(0),
            number: form.document_number.trim().to_owned(),
        })
    } else {
        return ctx.html_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &StartPage {
                chrome: ctx.chrome("recovery-title"),
                person_id,
                documents: documents(&ctx),
                problem: Some(ctx.tr.t("recovery-no-proof")),
            },
        );
    };
    let reply = ctx
        .identity()
        .start_assisted_recovery(id::StartAssistedRecoveryRequest {
            account_id: person_id,
            verification: form.note.trim().chars().take(200).collect(),
            presence: Some(presence),
        })
        .await;
    match reply {
        Ok(reply) => {
            let recovery = reply.into_inner();
            ctx.html(&StartedPage {
                chrome: ctx.chrome("recovery-title"),
                until: date_of(&ctx, recovery.expires_at.map_or(0, |t| t.seconds)),
                recovery_id: recovery.id,
            })
        }
        Err(status) => ctx.failure(&status),
    }
}

#[derive(Template)]
#[template(path = "recovery_approve.html")]
struct ApprovePage {
    chrome: Chrome,
    documents: Vec<(i32, String)>,
    problem: Option<String>,
}

/// `GET /recuperations`: the second agent's form.
pub async fn approve_form(ctx: Ctx) -> Response {
    if ctx.signed_in().is_none() {
        return ctx.to_sign_in();
    }
    ctx.html(&ApprovePage {
        chrome: ctx.chrome("recovery-approve-title"),
        documents: documents(&ctx),
        problem: None,
    })
}

#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    recovery_id: String,
    #[serde(default)]
    document_kind: String,
    #[serde(default)]
    document_number: String,
    #[serde(default)]
    pin: String,
}

/// `POST /recuperations`: approved; the new recovery sheet to print.
pub async fn approve(ctx: Ctx, Form(form): Form<ApproveForm>) -> Response {
    if ctx.signed_in().is_none() {
        return ctx.to_sign_in();
    }
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let refused = |ctx: &Ctx, key: &str| {
        ctx.html_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ApprovePage {
                chrome: ctx.chrome("recovery-approve-title"),
                documents: documents(ctx),
                problem: Some(ctx.tr.t(key)),
            },
        )
    };
    if form.pin.len() != 6 || !form.pin.chars().all(|c| c.is_ascii_digit()) {
        return refused(&ctx, "person-pin-invalid");
    }
    let document = (!form.document_number.trim().is_empty()).then(|| id::IdentityDocument {
        kind: form.document_kind.parse().unwrap_or(0),
        number: form.document_number.trim().to_owned(),
    });
    let reply = ctx
        .identity()
        .approve_assisted_recovery(id::ApproveAssistedRecoveryRequest {
            recovery_id: form.recovery_id.trim().to_owned(),
            new_secret: form.pin.clone(),
            identity_document: document,
        })
        .await;
    match reply {
        Ok(reply) => match reply.into_inner().recovery_sheet {
            Some(sheet) => crate::pages::person::sheet_after_recovery(&ctx, sheet).await,
            None => ctx.message(StatusCode::OK, "recovery-done", None),
        },
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            let key = if status.message().contains("PIN") {
                "person-pin-weak"
            } else {
                "recovery-document-mismatch"
            };
            refused(&ctx, key)
        }
        Err(status) => ctx.failure(&status),
    }
}
