//! Mandates at the desk: the plain-French summary, then a signature drawn or typed with the
//! person's own code, or consent by SMS code; renewing and revoking.

use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::response::Response;
use base64::Engine as _;
use http::StatusCode;
use passerelle_proto::identity::v1 as id;
use serde::Deserialize;

use super::{Person, found, staff, staff_form};
use crate::page::{Chrome, Ctx, see_other};

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
    let structure = match ctx.signed_in().and_then(|s| s.structure.clone()) {
        Some(structure) => ctx.structure_name(&structure).await,
        None => String::new(),
    };
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
    if let Err(response) = staff_form(&ctx, &form.csrf) {
        return *response;
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
        .identity()
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
    if let Err(response) = staff_form(&ctx, &form.csrf) {
        return *response;
    }
    let reply = ctx
        .identity()
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
    if let Err(response) = staff_form(&ctx, &form.csrf) {
        return *response;
    }
    let reply = ctx
        .identity()
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
    if let Err(response) = staff_form(&ctx, &form.csrf) {
        return *response;
    }
    let duration = MandateForm {
        duration: form.duration,
        ..Default::default()
    }
    .duration();
    let reply = ctx
        .identity()
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
    if let Err(response) = staff_form(&ctx, &form.csrf) {
        return *response;
    }
    let reply = ctx
        .identity()
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
