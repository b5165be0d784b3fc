//! The agents' journeys for one person of their structure: creating the account (and printing
//! its recovery sheet), recording a mandate — at the desk, signed on the screen or by typing
//! one's name, with the person's own PIN; or by SMS code —, renewing and revoking it, and,
//! under a live mandate, the person's documents: upload several at once (from a phone's camera
//! too), download, checklists of what a procedure needs, share codes to print.
//!
//! Every rule stays in the services: the pages call them with the agent's token, and a page the
//! agent may not see says so in words.

mod checklist;
mod documents;
mod mandates;
mod new;

pub use checklist::checklist;
pub use documents::{MAX_FILE_BYTES, TYPES, download, share, upload, upload_form};
pub use mandates::{
    mandate_form, mandate_grant, mandate_renew, mandate_revoke, mandate_sms, mandate_sms_code,
    mandate_summary,
};
pub use new::{create, new_form, sheet_after_recovery, sheet_pdf};

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use http::StatusCode;
use passerelle_proto::identity::v1 as id;
use passerelle_proto::vault::v1 as pb;
use serde::Deserialize;

use crate::page::{Chrome, Ctx};
use crate::pages::papers::{Tile, long_date, tile};
use crate::session::Session;

/// The signed-in staff member, or the page to show instead (boxed: a page is large, and the
/// happy path should not carry its size).
fn staff(ctx: &Ctx) -> Result<&Session, Box<Response>> {
    match ctx.signed_in() {
        None => Err(Box::new(ctx.to_sign_in())),
        Some(session) if session.is_staff() => Ok(session),
        Some(_) => Err(Box::new(ctx.message(
            StatusCode::FORBIDDEN,
            "error-denied",
            None,
        ))),
    }
}

/// A staff member's form: signed in as staff and carrying the form's CSRF token; or the page
/// to show instead.
fn staff_form<'a>(ctx: &'a Ctx, csrf: &str) -> Result<&'a Session, Box<Response>> {
    let session = staff(ctx)?;
    if !ctx.csrf_ok(csrf) {
        return Err(Box::new(ctx.forbidden_form()));
    }
    Ok(session)
}

/// A person, as the agent's pages show them.
pub struct Person {
    pub id: String,
    pub name: String,
    pub username: String,
    pub born: String,
    pub phone: bool,
}

impl Person {
    fn of(ctx: &Ctx, a: id::Account) -> Self {
        Self {
            name: format!("{} {}", a.given_name, a.family_name),
            born: if a.birth_date.is_empty() {
                String::new()
            } else {
                ctx.tr.t1("born-on", "date", long_date(ctx, &a.birth_date))
            },
            username: a.username,
            phone: !a.phone.is_empty(),
            id: a.id,
        }
    }
}

async fn person(ctx: &Ctx, id: &str) -> Result<Person, Response> {
    // Agents may read a person of their structure through the search; the account itself needs
    // a mandate, so the search (by id's username) is what the desk uses first.
    let reply = ctx
        .identity()
        .get_account(id::GetAccountRequest {
            account_id: id.to_owned(),
        })
        .await;
    match reply {
        Ok(account) => Ok(Person::of(ctx, account.into_inner())),
        Err(status) => Err(ctx.failure(&status)),
    }
}

/// A mandate as the person page shows it.
pub struct MandateLine {
    pub id: String,
    pub scopes: String,
    pub until: String,
    pub how: String,
    pub live: bool,
    pub documents: bool,
}

pub fn scope_name(ctx: &Ctx, scope: i32) -> String {
    let key = match id::Scope::try_from(scope).unwrap_or(id::Scope::Unspecified) {
        id::Scope::Documents => "scope-documents",
        id::Scope::Alerts => "scope-alerts",
        id::Scope::Interpreting => "scope-interpreting",
        id::Scope::Pathways => "scope-pathways",
        id::Scope::Procedures => "scope-procedures",
        id::Scope::Unspecified => "scope-unknown",
    };
    ctx.tr.t(key)
}

pub fn date_of(ctx: &Ctx, seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .map(|t| {
            let d = t.date();
            long_date(
                ctx,
                &format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
            )
        })
        .unwrap_or_default()
}

pub fn mandate_line(ctx: &Ctx, m: &id::Mandate) -> MandateLine {
    MandateLine {
        id: m.id.clone(),
        scopes: m
            .scopes
            .iter()
            .map(|s| scope_name(ctx, *s))
            .collect::<Vec<_>>()
            .join(", "),
        until: date_of(ctx, m.expires_at.as_ref().map_or(0, |t| t.seconds)),
        how: ctx.tr.t(match m.consent.as_str() {
            "in_person" => "consent-in-person",
            "sms" => "consent-sms",
            _ => "consent-self",
        }),
        live: m.live,
        documents: m.live && m.scopes.contains(&(id::Scope::Documents as i32)),
    }
}

async fn mandates(ctx: &Ctx, person: &str) -> Result<Vec<id::Mandate>, Response> {
    ctx.identity()
        .list_mandates(id::ListMandatesRequest {
            beneficiary_id: person.to_owned(),
        })
        .await
        .map(|r| r.into_inner().mandates)
        .map_err(|status| ctx.failure(&status))
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    chrome: Chrome,
    person: Person,
    mandates: Vec<MandateLine>,
    documents_allowed: bool,
    tiles: Vec<Tile>,
    procedures: Vec<(String, String)>,
    done: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    fait: Option<String>,
}

/// What a `?fait=` after an action says.
fn done_message(ctx: &Ctx, code: Option<&str>) -> Option<String> {
    let key = match code? {
        "mandat" => "done-mandate",
        "renouvele" => "done-renewed",
        "revoque" => "done-revoked",
        "documents" => "done-uploaded",
        _ => return None,
    };
    Some(ctx.tr.t(key))
}

/// `GET /personnes/{id}`.
pub async fn show(
    ctx: Ctx,
    Path(person_id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Response {
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    let mandates = match mandates(&ctx, &person_id).await {
        Ok(m) => m,
        Err(response) => return response,
    };
    let lines: Vec<MandateLine> = mandates.iter().map(|m| mandate_line(&ctx, m)).collect();
    let documents_allowed = lines.iter().any(|l| l.documents);
    // The account's details need a live mandate; without one the page still offers to make one.
    let person = if lines.iter().any(|l| l.live) {
        match person(&ctx, &person_id).await {
            Ok(p) => p,
            Err(response) => return response,
        }
    } else {
        match found(&ctx, &person_id).await {
            Some(p) => p,
            None => return ctx.message(StatusCode::NOT_FOUND, "error-not-found", None),
        }
    };
    let mut tiles = Vec::new();
    let mut procedures = Vec::new();
    if documents_allowed {
        let vault = ctx.vault();
        match vault
            .clone()
            .list_documents(pb::ListDocumentsRequest {
                owner_id: person_id.clone(),
                ..Default::default()
            })
            .await
        {
            Ok(reply) => {
                tiles = reply
                    .into_inner()
                    .documents
                    .iter()
                    .map(|d| tile(&ctx, d))
                    .collect()
            }
            Err(status) => return ctx.failure(&status),
        }
        if let Ok(reply) = vault
            .clone()
            .list_procedures(pb::ListProceduresRequest {})
            .await
        {
            procedures = reply
                .into_inner()
                .procedures
                .into_iter()
                .map(|p| (p.id, p.title))
                .collect();
        }
    }
    ctx.html(&PersonPage {
        chrome: ctx.chrome("person-title"),
        person,
        mandates: lines,
        documents_allowed,
        tiles,
        procedures,
        done: done_message(&ctx, query.fait.as_deref()),
    })
}

/// A person of the agent's structure, found by their id in the structure's list (no mandate
/// needed: it is what the desk's search shows).
async fn found(ctx: &Ctx, person_id: &str) -> Option<Person> {
    let reply = ctx
        .identity()
        .search_accounts(id::SearchAccountsRequest {
            query: person_id.to_owned(),
            ..Default::default()
        })
        .await
        .ok()?
        .into_inner();
    let a = reply.accounts.into_iter().find(|a| a.id == person_id)?;
    Some(Person::of(ctx, a))
}
