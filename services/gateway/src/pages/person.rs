//! The agents' journeys for one person of their structure: creating the account (and printing
//! its recovery sheet), recording a mandate — at the desk, signed on the screen or by typing
//! one's name, with the person's own PIN; or by SMS code —, renewing and revoking it, and,
//! under a live mandate, the person's documents: upload several at once (from a phone's camera
//! too), download, checklists of what a procedure needs, share codes to print.
//!
//! Every rule stays in the services: the pages call them with the agent's token, and a page the
//! agent may not see says so in words.

use std::time::Duration;

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{HeaderValue, StatusCode, header};
use passerelle_proto::identity::v1 as id;
use passerelle_proto::vault::v1 as pb;
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

use crate::page::{Chrome, Ctx, see_other};
use crate::pages::papers::{Tile, long_date, tile};
use crate::session::{Session, random_token};

/// The largest file an agent uploads through the web front.
pub const MAX_FILE_BYTES: u64 = 50_000_000;
/// Files in one upload form.
const MAX_FILES: usize = 8;

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

/// A person, as the agent's pages show them.
pub struct Person {
    pub id: String,
    pub name: String,
    pub username: String,
    pub born: String,
    pub phone: bool,
}

async fn person(ctx: &Ctx, id: &str) -> Result<Person, Response> {
    // Agents may read a person of their structure through the search; the account itself needs
    // a mandate, so the search (by id's username) is what the desk uses first.
    let reply = ctx
        .app
        .backend
        .identity(ctx.token(), &ctx.client)
        .get_account(id::GetAccountRequest {
            account_id: id.to_owned(),
        })
        .await;
    match reply {
        Ok(account) => {
            let a = account.into_inner();
            Ok(Person {
                name: format!("{} {}", a.given_name, a.family_name),
                born: if a.birth_date.is_empty() {
                    String::new()
                } else {
                    ctx.tr.t1("born-on", "date", long_date(ctx, &a.birth_date))
                },
                username: a.username,
                phone: !a.phone.is_empty(),
                id: a.id,
            })
        }
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
    ctx.app
        .backend
        .identity(ctx.token(), &ctx.client)
        .list_mandates(id::ListMandatesRequest {
            beneficiary_id: person.to_owned(),
        })
        .await
        .map(|r| r.into_inner().mandates)
        .map_err(|status| ctx.failure(&status))
}

// ----- the person page ------------------------------------------------------------------------

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
        let vault = ctx.app.backend.vault(ctx.token(), &ctx.client);
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
        .app
        .backend
        .identity(ctx.token(), &ctx.client)
        .search_accounts(id::SearchAccountsRequest {
            query: person_id.to_owned(),
            ..Default::default()
        })
        .await
        .ok()?
        .into_inner();
    let a = reply.accounts.into_iter().find(|a| a.id == person_id)?;
    Some(Person {
        name: format!("{} {}", a.given_name, a.family_name),
        born: if a.birth_date.is_empty() {
            String::new()
        } else {
            ctx.tr.t1("born-on", "date", long_date(ctx, &a.birth_date))
        },
        username: a.username,
        phone: !a.phone.is_empty(),
        id: a.id,
    })
}

// ----- a new person ---------------------------------------------------------------------------

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
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
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
        .app
        .backend
        .identity(ctx.token(), &ctx.client)
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

// ----- mandates -------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct MandateForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    /// `documents,procedures…`, one field per box checked (serde_urlencoded gives the last one
    /// of repeated names, so the boxes have names of their own).
    #[serde(default)]
    documents: String,
    #[serde(default)]
    procedures: String,
    #[serde(default)]
    pathways: String,
    #[serde(default)]
    alerts: String,
    #[serde(default)]
    interpreting: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    signature: String,
    #[serde(default)]
    typed_signature: String,
}

impl MandateForm {
    fn scopes(&self) -> Vec<i32> {
        [
            (&self.documents, id::Scope::Documents),
            (&self.procedures, id::Scope::Procedures),
            (&self.pathways, id::Scope::Pathways),
            (&self.alerts, id::Scope::Alerts),
            (&self.interpreting, id::Scope::Interpreting),
        ]
        .into_iter()
        .filter(|(v, _)| !v.is_empty())
        .map(|(_, s)| s as i32)
        .collect()
    }

    fn duration(&self) -> id::MandateDuration {
        match self.duration.as_str() {
            "jour" => id::MandateDuration::OneDay,
            "mois" => id::MandateDuration::OneMonth,
            "an" => id::MandateDuration::OneYear,
            _ => id::MandateDuration::SixMonths,
        }
    }

    fn duration_key(&self) -> &'static str {
        match self.duration() {
            id::MandateDuration::OneDay => "duration-day",
            id::MandateDuration::OneMonth => "duration-month",
            id::MandateDuration::OneYear => "duration-year",
            _ => "duration-six-months",
        }
    }
}

#[derive(Template)]
#[template(path = "mandate.html")]
struct MandatePage {
    chrome: Chrome,
    person: Person,
    form: MandateForm,
    /// The plain-French summary, once scopes are chosen.
    summary: Option<Vec<String>>,
    duration_text: String,
    problem: Option<String>,
    structure: String,
}

async fn mandate_page(
    ctx: &Ctx,
    person_id: &str,
    form: MandateForm,
    summary: bool,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let person = match found(ctx, person_id).await {
        Some(p) => p,
        None => return ctx.message(StatusCode::NOT_FOUND, "error-not-found", None),
    };
    let structure = ctx
        .signed_in()
        .and_then(|s| s.structure.clone())
        .unwrap_or_default();
    let summary = summary.then(|| {
        form.scopes()
            .iter()
            .map(|s| {
                ctx.tr.t(
                    match id::Scope::try_from(*s).unwrap_or(id::Scope::Unspecified) {
                        id::Scope::Documents => "summary-documents",
                        id::Scope::Procedures => "summary-procedures",
                        id::Scope::Pathways => "summary-pathways",
                        id::Scope::Alerts => "summary-alerts",
                        id::Scope::Interpreting => "summary-interpreting",
                        id::Scope::Unspecified => "scope-unknown",
                    },
                )
            })
            .collect()
    });
    let duration_text = ctx.tr.t(form.duration_key());
    ctx.html_with(
        status,
        &MandatePage {
            chrome: ctx.chrome("mandate-title"),
            person,
            form,
            summary,
            duration_text,
            problem,
            structure,
        },
    )
}

/// `GET /personnes/{id}/mandat`: what the mandate covers, and for how long.
pub async fn mandate_form(ctx: Ctx, Path(person_id): Path<String>) -> Response {
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    let form = MandateForm {
        documents: "1".into(),
        duration: "six-mois".into(),
        ..Default::default()
    };
    mandate_page(&ctx, &person_id, form, false, None, StatusCode::OK).await
}

/// `POST /personnes/{id}/mandat/resume`: the summary in plain words, to read together, then to
/// sign and confirm with the person's own code.
pub async fn mandate_summary(
    ctx: Ctx,
    Path(person_id): Path<String>,
    Form(form): Form<MandateForm>,
) -> Response {
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    if form.scopes().is_empty() {
        let problem = Some(ctx.tr.t("mandate-no-scope"));
        return mandate_page(
            &ctx,
            &person_id,
            form,
            false,
            problem,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    mandate_page(&ctx, &person_id, form, true, None, StatusCode::OK).await
}

/// `POST /personnes/{id}/mandat`: recorded at the desk.
pub async fn mandate_grant(
    ctx: Ctx,
    Path(person_id): Path<String>,
    Form(form): Form<MandateForm>,
) -> Response {
    let session = match staff(&ctx) {
        Ok(s) => s.clone(),
        Err(response) => return *response,
    };
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let signature_png = match form.signature.strip_prefix("data:image/png;base64,") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    if signature_png.is_empty() && form.typed_signature.trim().is_empty() {
        let problem = Some(ctx.tr.t("mandate-unsigned"));
        return mandate_page(
            &ctx,
            &person_id,
            form,
            true,
            problem,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let reply = ctx
        .app
        .backend
        .identity(ctx.token(), &ctx.client)
        .grant_mandate(id::GrantMandateRequest {
            beneficiary_id: person_id.clone(),
            structure: session.structure.clone().unwrap_or_default(),
            scopes: form.scopes(),
            duration: form.duration() as i32,
            signature_png,
            beneficiary_secret: form.secret.clone(),
            typed_signature: form.typed_signature.trim().to_owned(),
        })
        .await;
    match reply {
        Ok(_) => see_other(&format!("/personnes/{person_id}?fait=mandat")),
        Err(status)
            if matches!(
                status.code(),
                tonic::Code::PermissionDenied | tonic::Code::InvalidArgument
            ) && status.message().contains("PIN or password") =>
        {
            let problem = Some(ctx.tr.t("mandate-secret-wrong"));
            mandate_page(
                &ctx,
                &person_id,
                form,
                true,
                problem,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(status) => ctx.failure(&status),
    }
}

#[derive(Template)]
#[template(path = "mandate_sms.html")]
struct SmsPage {
    chrome: Chrome,
    person_id: String,
    consent_id: String,
    phone: String,
    problem: Option<String>,
}

/// `POST /personnes/{id}/mandat/sms`: the person is not here; a code goes to their phone.
pub async fn mandate_sms(
    ctx: Ctx,
    Path(person_id): Path<String>,
    Form(form): Form<MandateForm>,
) -> Response {
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let reply = ctx
        .app
        .backend
        .identity(ctx.token(), &ctx.client)
        .request_mandate_consent(id::RequestMandateConsentRequest {
            beneficiary_id: person_id.clone(),
            scopes: form.scopes(),
            duration: form.duration() as i32,
        })
        .await;
    match reply {
        Ok(reply) => {
            let pending = reply.into_inner();
            ctx.html(&SmsPage {
                chrome: ctx.chrome("mandate-sms-title"),
                person_id,
                consent_id: pending.consent_id,
                phone: pending.phone_masked,
                problem: None,
            })
        }
        Err(status) if status.code() == tonic::Code::FailedPrecondition => ctx.message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "mandate-sms-impossible",
            Some(status.message().to_owned()),
        ),
        Err(status) => ctx.failure(&status),
    }
}

#[derive(Debug, Deserialize)]
pub struct SmsCodeForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    consent_id: String,
    #[serde(default)]
    code: String,
}

/// `POST /personnes/{id}/mandat/sms/code`: the code the person read back.
pub async fn mandate_sms_code(
    ctx: Ctx,
    Path(person_id): Path<String>,
    Form(form): Form<SmsCodeForm>,
) -> Response {
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let reply = ctx
        .app
        .backend
        .identity(ctx.token(), &ctx.client)
        .confirm_mandate_consent(id::ConfirmMandateConsentRequest {
            consent_id: form.consent_id.clone(),
            code: form.code.trim().to_owned(),
        })
        .await;
    match reply {
        Ok(_) => see_other(&format!("/personnes/{person_id}?fait=mandat")),
        Err(status) if status.code() == tonic::Code::InvalidArgument => ctx.html_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SmsPage {
                chrome: ctx.chrome("mandate-sms-title"),
                person_id,
                consent_id: form.consent_id,
                phone: String::new(),
                problem: Some(ctx.tr.t("mandate-sms-wrong")),
            },
        ),
        Err(status) => ctx.failure(&status),
    }
}

#[derive(Debug, Deserialize)]
pub struct MandateChangeForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    duration: String,
}

/// `POST /personnes/{id}/mandats/{mandate}/renouveler`.
pub async fn mandate_renew(
    ctx: Ctx,
    Path((person_id, mandate_id)): Path<(String, String)>,
    Form(form): Form<MandateChangeForm>,
) -> Response {
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let duration = MandateForm {
        duration: form.duration,
        ..Default::default()
    }
    .duration();
    let reply = ctx
        .app
        .backend
        .identity(ctx.token(), &ctx.client)
        .renew_mandate(id::RenewMandateRequest {
            mandate_id,
            beneficiary_id: person_id.clone(),
            duration: duration as i32,
        })
        .await;
    match reply {
        Ok(_) => see_other(&format!("/personnes/{person_id}?fait=renouvele")),
        Err(status) => ctx.failure(&status),
    }
}

/// `POST /personnes/{id}/mandats/{mandate}/revoquer`.
pub async fn mandate_revoke(
    ctx: Ctx,
    Path((person_id, mandate_id)): Path<(String, String)>,
    Form(form): Form<MandateChangeForm>,
) -> Response {
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let reply = ctx
        .app
        .backend
        .identity(ctx.token(), &ctx.client)
        .revoke_mandate(id::RevokeMandateRequest {
            mandate_id,
            beneficiary_id: person_id.clone(),
            scopes: Vec::new(),
        })
        .await;
    match reply {
        Ok(_) => see_other(&format!("/personnes/{person_id}?fait=revoque")),
        Err(status) => ctx.failure(&status),
    }
}

// ----- documents ------------------------------------------------------------------------------

/// The document types an agent picks from, as `(value, message id)`.
pub const TYPES: &[(i32, &str)] = &[
    (pb::DocumentType::IdentityCard as i32, "type-identity-card"),
    (pb::DocumentType::Passport as i32, "type-passport"),
    (
        pb::DocumentType::ResidencePermit as i32,
        "type-residence-permit",
    ),
    (pb::DocumentType::CarteVitale as i32, "type-carte-vitale"),
    (pb::DocumentType::TaxNotice as i32, "type-tax-notice"),
    (
        pb::DocumentType::FranceTravailCertificate as i32,
        "type-france-travail",
    ),
    (pb::DocumentType::CafCertificate as i32, "type-caf"),
    (
        pb::DocumentType::ProofOfAddress as i32,
        "type-proof-of-address",
    ),
    (pb::DocumentType::Domiciliation as i32, "type-domiciliation"),
    (pb::DocumentType::Cv as i32, "type-cv"),
    (pb::DocumentType::Payslip as i32, "type-payslip"),
    (pb::DocumentType::Other as i32, "type-other"),
];

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    chrome: Chrome,
    person: Person,
    types: Vec<(i32, String)>,
    problem: Option<String>,
    max_mb: u64,
}

async fn upload_page(
    ctx: &Ctx,
    person_id: &str,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let person = match found(ctx, person_id).await {
        Some(p) => p,
        None => return ctx.message(StatusCode::NOT_FOUND, "error-not-found", None),
    };
    ctx.html_with(
        status,
        &UploadPage {
            chrome: ctx.chrome("upload-title"),
            person,
            types: TYPES.iter().map(|(v, k)| (*v, ctx.tr.t(k))).collect(),
            problem,
            max_mb: MAX_FILE_BYTES / 1_000_000,
        },
    )
}

/// `GET /personnes/{id}/documents/ajouter`.
pub async fn upload_form(ctx: Ctx, Path(person_id): Path<String>) -> Response {
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    upload_page(&ctx, &person_id, None, StatusCode::OK).await
}

/// A file received, spooled to disk (its size is needed before the vault stream starts).
struct Spooled {
    path: std::path::PathBuf,
    size: u64,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `POST /personnes/{id}/documents`: one or several files, with their type and dates.
pub async fn upload(ctx: Ctx, Path(person_id): Path<String>, mut multipart: Multipart) -> Response {
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    // Only so many uploads spool at once: the disk and the vault's transfers are bounded.
    let Ok(_permit) = ctx.app.uploads.clone().try_acquire_owned() else {
        return ctx.message(StatusCode::SERVICE_UNAVAILABLE, "upload-busy", None);
    };
    let mut fields = std::collections::HashMap::<String, String>::new();
    let mut files: Vec<Spooled> = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                tracing::info!(error = %e, "an upload form did not read");
                return upload_page(
                    &ctx,
                    &person_id,
                    Some(ctx.tr.t("upload-broken")),
                    StatusCode::BAD_REQUEST,
                )
                .await;
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "files" {
            if field.file_name().is_none_or(str::is_empty) {
                continue; // an empty file input
            }
            if files.len() == MAX_FILES {
                return upload_page(
                    &ctx,
                    &person_id,
                    Some(ctx.tr.n("upload-too-many", "count", MAX_FILES as i64)),
                    StatusCode::PAYLOAD_TOO_LARGE,
                )
                .await;
            }
            match spool(&ctx, field).await {
                Ok(file) => files.push(file),
                Err(key) => {
                    return upload_page(
                        &ctx,
                        &person_id,
                        Some(ctx.tr.t1(key, "size", MAX_FILE_BYTES / 1_000_000)),
                        StatusCode::PAYLOAD_TOO_LARGE,
                    )
                    .await;
                }
            }
        } else {
            let value = field.text().await.unwrap_or_default();
            fields.insert(name, value);
        }
    }
    if !ctx.csrf_ok(fields.get("_csrf").map_or("", String::as_str)) {
        return ctx.forbidden_form();
    }
    if files.is_empty() {
        return upload_page(
            &ctx,
            &person_id,
            Some(ctx.tr.t("upload-none")),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let kind: i32 = fields
        .get("type")
        .and_then(|t| t.parse().ok())
        .unwrap_or(pb::DocumentType::Other as i32);
    let title = fields.get("title").map_or("", |t| t.trim()).to_owned();
    let expires = fields.get("expires").map_or("", |t| t.trim()).to_owned();
    for (n, file) in files.iter().enumerate() {
        // Several files under one name are numbered, so the person can tell them apart; without
        // a name, one file takes its type's name (the vault's default), several are numbered.
        let title = match (title.is_empty(), files.len()) {
            (true, 1) => String::new(),
            (true, _) => {
                let label = TYPES
                    .iter()
                    .find(|(value, _)| *value == kind)
                    .map_or_else(|| ctx.tr.t("type-other"), |(_, key)| ctx.tr.t(key));
                format!("{label} ({})", n + 1)
            }
            (false, 1) => title.clone(),
            (false, _) => format!("{title} ({})", n + 1),
        };
        if let Err(status) = send(&ctx, &person_id, file, kind, &title, &expires).await {
            if status.code() == tonic::Code::InvalidArgument {
                let key = if status.message().contains("accepted are") {
                    "upload-type-refused"
                } else if status.message().contains("expires") || status.message().contains("date")
                {
                    "upload-date-invalid"
                } else {
                    "error-invalid"
                };
                return upload_page(
                    &ctx,
                    &person_id,
                    Some(ctx.tr.t(key)),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
            return ctx.failure(&status);
        }
    }
    see_other(&format!("/personnes/{person_id}?fait=documents"))
}

/// Writes a form's file to a temporary file, refusing it past [`MAX_FILE_BYTES`].
async fn spool(
    ctx: &Ctx,
    mut field: axum::extract::multipart::Field<'_>,
) -> Result<Spooled, &'static str> {
    let path = ctx
        .app
        .spool_dir
        .join(format!("upload-{}", uuid::Uuid::new_v4().simple()));
    let mut out = tokio::fs::File::create(&path)
        .await
        .map_err(|_| "upload-broken")?;
    let mut spooled = Spooled { path, size: 0 };
    while let Some(chunk) = field.chunk().await.map_err(|_| "upload-broken")? {
        spooled.size += chunk.len() as u64;
        if spooled.size > MAX_FILE_BYTES {
            return Err("upload-too-large");
        }
        out.write_all(&chunk).await.map_err(|_| "upload-broken")?;
    }
    out.flush().await.map_err(|_| "upload-broken")?;
    Ok(spooled)
}

/// Streams a spooled file to the vault, 64 KiB at a time.
async fn send(
    ctx: &Ctx,
    owner: &str,
    file: &Spooled,
    kind: i32,
    title: &str,
    expires: &str,
) -> Result<pb::Document, tonic::Status> {
    use tokio::io::AsyncReadExt as _;
    let start = pb::UploadRequest {
        part: Some(pb::upload_request::Part::Start(pb::UploadStart {
            upload_id: uuid::Uuid::new_v4().to_string(),
            owner_id: owner.to_owned(),
            r#type: kind,
            title: title.to_owned(),
            expires_on: expires.to_owned(),
            size_bytes: i64::try_from(file.size).unwrap_or(i64::MAX),
            ..Default::default()
        })),
    };
    let mut reader = tokio::fs::File::open(&file.path)
        .await
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        if tx.send(start).await.is_err() {
            return;
        }
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let message = pb::UploadRequest {
                        part: Some(pb::upload_request::Part::Chunk(buffer[..n].to_vec())),
                    };
                    if tx.send(message).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    ctx.app
        .backend
        .vault(ctx.token(), &ctx.client)
        .upload(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map(tonic::Response::into_inner)
}

/// `GET /personnes/{id}/documents/{doc}/fichier`.
pub async fn download(ctx: Ctx, Path((person_id, doc)): Path<(String, String)>) -> Response {
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    let reply = ctx
        .app
        .backend
        .vault(ctx.token(), &ctx.client)
        .download(pb::DownloadRequest {
            owner_id: person_id,
            document_id: doc,
        })
        .await;
    match reply {
        Ok(stream) => crate::pages::papers::stream_download(&ctx, stream.into_inner()).await,
        Err(status) => ctx.failure(&status),
    }
}

#[derive(Debug, Deserialize)]
pub struct AgentShareForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    recipient: String,
}

#[derive(Template)]
#[template(path = "share_made.html")]
struct AgentShareMade {
    chrome: Chrome,
    code: String,
    until: String,
    recipient: String,
    qr_svg: String,
}

/// `POST /personnes/{id}/documents/{doc}/partager`: a code for 3 days, to print for the person.
pub async fn share(
    ctx: Ctx,
    Path((person_id, doc)): Path<(String, String)>,
    Form(form): Form<AgentShareForm>,
) -> Response {
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let reply = ctx
        .app
        .backend
        .vault(ctx.token(), &ctx.client)
        .create_share(pb::CreateShareRequest {
            owner_id: person_id,
            document_ids: vec![doc],
            valid_hours: 72,
            one_time: false,
            recipient: form.recipient.trim().chars().take(120).collect(),
        })
        .await;
    match reply {
        Ok(reply) => {
            let share = reply.into_inner();
            let link = format!("/partage?jeton={}", share.link_token);
            ctx.html(&AgentShareMade {
                chrome: ctx.chrome("share-made-title"),
                until: date_of(&ctx, share.expires_at.map_or(0, |t| t.seconds)),
                code: share.code,
                recipient: share.recipient,
                qr_svg: crate::pages::share::qr_svg(&ctx, &link),
            })
        }
        Err(status) => ctx.failure(&status),
    }
}

#[derive(Template)]
#[template(path = "checklist.html")]
struct ChecklistPage {
    chrome: Chrome,
    person_id: String,
    procedure: String,
    lines: Vec<(String, String, bool)>,
    complete: bool,
}

#[derive(Debug, Deserialize)]
pub struct ChecklistQuery {
    #[serde(default)]
    procedure: String,
}

/// `GET /personnes/{id}/demarches?procedure=…`: what a procedure needs, and what is missing.
pub async fn checklist(
    ctx: Ctx,
    Path(person_id): Path<String>,
    Query(query): Query<ChecklistQuery>,
) -> Response {
    if let Err(response) = staff(&ctx) {
        return *response;
    }
    let reply = ctx
        .app
        .backend
        .vault(ctx.token(), &ctx.client)
        .checklist(pb::ChecklistRequest {
            owner_id: person_id.clone(),
            procedure_id: query.procedure,
        })
        .await;
    let checklist = match reply {
        Ok(reply) => reply.into_inner(),
        Err(status) => return ctx.failure(&status),
    };
    let lines = checklist
        .items
        .iter()
        .map(|item| {
            let label = item
                .requirement
                .as_ref()
                .map(|r| r.label.clone())
                .unwrap_or_default();
            let ok = item.status == "ok";
            let status = ctx.tr.t(match item.status.as_str() {
                "ok" => "check-ok",
                "expired" => "check-expired",
                "obsolete" => "check-obsolete",
                "too_old" => "check-too-old",
                _ => "check-missing",
            });
            (label, status, ok)
        })
        .collect();
    ctx.html(&ChecklistPage {
        chrome: ctx.chrome("checklist-title"),
        person_id,
        procedure: checklist.procedure.map(|p| p.title).unwrap_or_default(),
        lines,
        complete: checklist.complete,
    })
}

/// The new recovery sheet after a desk recovery (the person is not named by the answer).
pub async fn sheet_after_recovery(ctx: &Ctx, sheet: id::RecoverySheet) -> Response {
    sheet_page(ctx, "-", "", sheet).await
}
