//! Staff accounts: managers make their structure's agents and volunteers, admins anyone of any
//! structure (the identity service holds these rules).

use askama::Template;
use axum::Form;
use axum::response::Response;
use http::StatusCode;
use passerelle_proto::identity::v1 as id;
use serde::Deserialize;

use crate::page::{Chrome, Ctx};

#[derive(Template)]
#[template(path = "staff.html")]
struct StaffPage {
    chrome: Chrome,
    admin: bool,
    /// The registered structures an admin chooses among.
    structures: Vec<id::Structure>,
    /// The structure chosen last (kept when the form comes back).
    chosen: String,
    problem: Option<String>,
    made: Option<String>,
}

fn allowed(ctx: &Ctx) -> Option<bool> {
    let session = ctx.signed_in()?;
    if session.has_role("admin") {
        Some(true)
    } else if session.has_role("manager") {
        Some(false)
    } else {
        None
    }
}

/// `GET /comptes`.
pub async fn form(ctx: Ctx) -> Response {
    if ctx.signed_in().is_none() {
        return ctx.to_sign_in();
    }
    let Some(admin) = allowed(&ctx) else {
        return ctx.message(StatusCode::FORBIDDEN, "error-denied", None);
    };
    ctx.html(&StaffPage {
        chrome: ctx.chrome("staff-title"),
        admin,
        structures: if admin {
            ctx.structures().await
        } else {
            Vec::new()
        },
        chosen: String::new(),
        problem: None,
        made: None,
    })
}

#[derive(Debug, Deserialize)]
pub struct StaffForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    structure: String,
}

/// `POST /comptes`.
pub async fn create(ctx: Ctx, Form(form): Form<StaffForm>) -> Response {
    if ctx.signed_in().is_none() {
        return ctx.to_sign_in();
    }
    let Some(admin) = allowed(&ctx) else {
        return ctx.message(StatusCode::FORBIDDEN, "error-denied", None);
    };
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let role = match form.role.as_str() {
        "agent" => id::Role::Agent,
        "volunteer" => id::Role::Volunteer,
        "manager" => id::Role::Manager,
        "admin" => id::Role::Admin,
        _ => id::Role::Agent,
    };
    let reply = ctx
        .identity()
        .create_account(id::CreateAccountRequest {
            role: role as i32,
            username: form.username.trim().to_owned(),
            given_name: form.given_name.trim().to_owned(),
            family_name: form.family_name.trim().to_owned(),
            language: ctx.tr.lang().to_owned(),
            secret: form.password.clone(),
            structure: form.structure.trim().to_owned(),
            ..Default::default()
        })
        .await;
    let (problem, made) = match reply {
        Ok(reply) => (
            None,
            reply
                .into_inner()
                .account
                .map(|a| ctx.tr.t1("staff-made", "who", a.username)),
        ),
        Err(status) if status.code() == tonic::Code::InvalidArgument => (
            Some(format!(
                "{} ({})",
                ctx.tr.t("error-invalid"),
                status.message()
            )),
            None,
        ),
        Err(status) if status.code() == tonic::Code::AlreadyExists => {
            (Some(ctx.tr.t("person-username-taken")), None)
        }
        Err(status) => return ctx.failure(&status),
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    ctx.html_with(
        status,
        &StaffPage {
            chrome: ctx.chrome("staff-title"),
            admin,
            structures: if admin {
                ctx.structures().await
            } else {
                Vec::new()
            },
            chosen: form.structure.trim().to_owned(),
            problem,
            made,
        },
    )
}
