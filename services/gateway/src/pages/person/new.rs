//! A new person without e-mail, and the recovery sheet to print (a page, and a PDF kept sealed
//! for a few minutes).

use std::time::Duration;

use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use passerelle_proto::identity::v1 as id;
use serde::Deserialize;

use super::{staff, staff_form};
use crate::page::{Chrome, Ctx, see_other};
use crate::session::random_token;

#[derive(Template)]
#[template(path = "person_new.html")]
struct NewPersonPage {
    chrome: Chrome,
    form: NewPersonForm,
    problem: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NewPersonForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    pin: String,
}

/// `GET /personnes/nouvelle`.
pub async fn new_form(ctx: Ctx) -> Response {
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    ctx.html(&NewPersonPage {
        chrome: ctx.chrome("person-new-title"),
        form: NewPersonForm {
            language: ctx.tr.lang().to_owned(),
            ..Default::default()
        },
        problem: None,
    })
}

/// A recovery sheet's PDF, kept a quarter of an hour for the agent to print: partition = a
/// random key, value = the PDF sealed with the master key.
const SHEETS: &str = "web_recovery_sheets";
const SHEET_TTL: Duration = Duration::from_secs(900);

#[derive(Template)]
#[template(path = "sheet.html")]
struct SheetPage {
    chrome: Chrome,
    person_id: String,
    username: String,
    code: String,
    qr_svg: String,
    pdf_url: String,
}

/// Keeps a sheet's PDF for printing; returns the page showing it.
async fn sheet_page(
    ctx: &Ctx,
    person_id: &str,
    username: &str,
    sheet: id::RecoverySheet,
) -> Response {
    let key = match random_token() {
        Ok(key) => key,
        Err(_) => return ctx.message(StatusCode::SERVICE_UNAVAILABLE, "error-unavailable", None),
    };
    let sealed = match ctx.app.master.seal(&format!("web-sheet:{key}"), &sheet.pdf) {
        Ok(sealed) => sealed,
        Err(_) => return ctx.message(StatusCode::SERVICE_UNAVAILABLE, "error-unavailable", None),
    };
    let stored = ctx
        .app
        .store
        .put(passerelle_store::Row::new(SHEETS, &key, person_id, sealed).with_ttl(SHEET_TTL))
        .await;
    if let Err(e) = stored {
        tracing::warn!(error = %e, "a recovery sheet could not be kept for printing");
    }
    let qr = sheet
        .qr_svg
        .find("<svg")
        .map(|start| sheet.qr_svg[start..].to_owned())
        .unwrap_or_default();
    ctx.html(&SheetPage {
        chrome: ctx.chrome("sheet-title"),
        person_id: person_id.to_owned(),
        username: username.to_owned(),
        code: sheet.code,
        qr_svg: qr,
        pdf_url: format!("/personnes/{person_id}/feuille/{key}"),
    })
}

/// `POST /personnes/nouvelle`.
pub async fn create(ctx: Ctx, Form(form): Form<NewPersonForm>) -> Response {
    if let Err(response) = staff_form(&ctx, &form.csrf) {
        return *response;
    }
    let again = |ctx: &Ctx, form: NewPersonForm, key: &str, detail: Option<String>| {
        let mut problem = ctx.tr.t(key);
        if let Some(detail) = detail {
            problem = format!("{problem} ({detail})");
        }
        ctx.html_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &NewPersonPage {
                chrome: ctx.chrome("person-new-title"),
                form,
                problem: Some(problem),
            },
        )
    };
    if form.given_name.trim().is_empty() || form.family_name.trim().is_empty() {
        return again(&ctx, form, "person-names-missing", None);
    }
    if form.pin.len() != 6 || !form.pin.chars().all(|c| c.is_ascii_digit()) {
        return again(&ctx, form, "person-pin-invalid", None);
    }
    let reply = ctx
        .identity()
        .create_account(id::CreateAccountRequest {
            role: id::Role::Beneficiary as i32,
            username: form.username.trim().to_owned(),
            given_name: form.given_name.trim().to_owned(),
            family_name: form.family_name.trim().to_owned(),
            phone: form.phone.trim().to_owned(),
            language: if form.language.is_empty() {
                "fr".into()
            } else {
                form.language.clone()
            },
            secret: form.pin.clone(),
            birth_date: form.birth_date.trim().to_owned(),
            ..Default::default()
        })
        .await;
    match reply {
        Ok(reply) => {
            let reply = reply.into_inner();
            let account = reply.account.unwrap_or_default();
            match reply.recovery_sheet {
                Some(sheet) => sheet_page(&ctx, &account.id, &account.username, sheet).await,
                None => see_other(&format!("/personnes/{}", account.id)),
            }
        }
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            let key = if status.message().contains("PIN") {
                "person-pin-weak"
            } else if status.message().contains("phone") {
                "person-phone-invalid"
            } else if status.message().contains("date of birth") {
                "person-birth-invalid"
            } else if status.message().contains("username") {
                "person-username-invalid"
            } else {
                "error-invalid"
            };
            again(&ctx, form, key, None)
        }
        Err(status) if status.code() == tonic::Code::AlreadyExists => {
            again(&ctx, form, "person-username-taken", None)
        }
        Err(status) => ctx.failure(&status),
    }
}

/// `GET /personnes/{id}/feuille/{key}`: the sheet's PDF, for the agent who just made it.
pub async fn sheet_pdf(ctx: Ctx, Path((person_id, key)): Path<(String, String)>) -> Response {
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    let sealed = match ctx.app.store.get(SHEETS, &key, &person_id).await {
        Ok(Some(sealed)) => sealed,
        Ok(None) => return ctx.message(StatusCode::NOT_FOUND, "sheet-gone", None),
        Err(_) => return ctx.message(StatusCode::SERVICE_UNAVAILABLE, "error-unavailable", None),
    };
    let Ok(pdf) = ctx.app.master.open(&format!("web-sheet:{key}"), &sealed) else {
        return ctx.message(StatusCode::NOT_FOUND, "sheet-gone", None);
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"feuille-passerelle.pdf\""),
            ),
        ],
        pdf,
    )
        .into_response()
}

/// The new recovery sheet after a desk recovery (the person is not named by the answer).
pub async fn sheet_after_recovery(ctx: &Ctx, sheet: id::RecoverySheet) -> Response {
    sheet_page(ctx, "-", "", sheet).await
}
