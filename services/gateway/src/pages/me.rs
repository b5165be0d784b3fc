//! The person's own pages besides their papers: "Qui m'aide" — who may act for them (their
//! mandates, with a button to withdraw each) and everything done under them (the audit
//! trail) — and changing their code.

use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::response::Response;
use http::StatusCode;
use passerelle_proto::identity::v1 as id;
use serde::Deserialize;

use crate::page::{Chrome, Ctx, see_other};
use crate::pages::CsrfOnly;
use crate::pages::person::{MandateLine, date_of, mandate_line};

/// One act done for the person.
pub struct Act {
    pub when: String,
    pub who: String,
    pub what: String,
}

/// An audit action in plain words.
fn act_words(ctx: &Ctx, action: &str) -> String {
    let key = match action {
        "vault.Upload" => "act-upload",
        // Trails written before the action took the RPC's name say `DownloadDocument`.
        "vault.Download" | "vault.DownloadDocument" => "act-download",
        "vault.GetDocument" | "vault.ListDocuments" => "act-read-documents",
        "vault.UpdateDocument" => "act-update-document",
        "vault.DeleteDocument" => "act-delete-document",
        "vault.CreateShare" => "act-share",
        "vault.RevokeShare" => "act-unshare",
        "vault.ListShares" => "act-read-shares",
        "vault.Checklist" => "act-checklist",
        "identity.GrantMandate" | "identity.ConfirmMandateConsent" => "act-mandate",
        "identity.RenewMandate" => "act-mandate-renewed",
        "identity.RevokeMandate" => "act-mandate-revoked",
        "identity.GetAccount" => "act-read-account",
        "identity.UpdateAccount" => "act-update-account",
        "identity.StartAssistedRecovery" | "identity.ApproveAssistedRecovery" => "act-recovery",
        "identity.RecoverWithCode" => "act-recovery-code",
        "identity.ActAs" => "act-act-as",
        a if a.starts_with("analytics.") => "act-pathway",
        _ => "act-other",
    };
    ctx.tr.t(key)
}

#[derive(Template)]
#[template(path = "helpers.html")]
struct HelpersPage {
    chrome: Chrome,
    mandates: Vec<MandateLine>,
    acts: Vec<Act>,
    done: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    fait: Option<String>,
}

/// `GET /qui-m-aide`.
pub async fn helpers(
    ctx: Ctx,
    axum::extract::Query(query): axum::extract::Query<DoneQuery>,
) -> Response {
    let Some(session) = ctx.signed_in() else {
        return ctx.to_sign_in();
    };
    let person = session.subject.clone();
    let identity = ctx.identity();
    let mandates = match identity
        .clone()
        .list_mandates(id::ListMandatesRequest {
            beneficiary_id: person.clone(),
        })
        .await
    {
        Ok(reply) => reply.into_inner().mandates,
        Err(status) => return ctx.failure(&status),
    };
    let entries = match identity
        .clone()
        .list_audit_trail(id::ListAuditTrailRequest {
            beneficiary_id: person,
            page_size: 50,
            ..Default::default()
        })
        .await
    {
        Ok(reply) => reply.into_inner().entries,
        Err(status) => return ctx.failure(&status),
    };
    let structures = ctx.structures().await;
    let name_of = |structure: &str| {
        structures
            .iter()
            .find(|s| s.id == structure)
            .map_or_else(|| structure.to_owned(), |s| s.display_name.clone())
    };
    let acts = entries
        .iter()
        .map(|e| Act {
            when: date_of(&ctx, e.at.as_ref().map_or(0, |t| t.seconds)),
            who: if e.actor_structure.is_empty() {
                ctx.tr.t("act-by-you")
            } else {
                ctx.tr
                    .t1("act-by-structure", "who", name_of(&e.actor_structure))
            },
            what: act_words(&ctx, &e.action),
        })
        .collect();
    ctx.html(&HelpersPage {
        chrome: ctx.chrome("helpers-title"),
        mandates: mandates
            .iter()
            .filter(|m| m.live)
            .map(|m| {
                let mut line = mandate_line(&ctx, m);
                line.how = m.structure_name.clone();
                line
            })
            .collect(),
        acts,
        done: query.fait.is_some(),
    })
}

/// `POST /qui-m-aide/{mandate}/retirer`: the person withdraws a mandate; it ends at once.
pub async fn revoke(
    ctx: Ctx,
    Path(mandate_id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let Some(session) = ctx.signed_in() else {
        return ctx.to_sign_in();
    };
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let reply = ctx
        .identity()
        .revoke_mandate(id::RevokeMandateRequest {
            mandate_id,
            beneficiary_id: session.subject.clone(),
            scopes: Vec::new(),
        })
        .await;
    match reply {
        Ok(_) => see_other("/qui-m-aide?fait=1"),
        Err(status) => ctx.failure(&status),
    }
}

#[derive(Template)]
#[template(path = "secret.html")]
struct SecretPage {
    chrome: Chrome,
    problem: Option<String>,
    done: bool,
}

/// `GET /mon-code`.
pub async fn secret_form(ctx: Ctx) -> Response {
    if ctx.signed_in().is_none() {
        return ctx.to_sign_in();
    }
    ctx.html(&SecretPage {
        chrome: ctx.chrome("secret-title"),
        problem: None,
        done: false,
    })
}

#[derive(Debug, Deserialize)]
pub struct SecretForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    again: String,
}

/// `POST /mon-code`.
pub async fn change_secret(ctx: Ctx, Form(form): Form<SecretForm>) -> Response {
    if ctx.signed_in().is_none() {
        return ctx.to_sign_in();
    }
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let again = |ctx: &Ctx, key: &str| {
        ctx.html_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SecretPage {
                chrome: ctx.chrome("secret-title"),
                problem: Some(ctx.tr.t(key)),
                done: false,
            },
        )
    };
    if form.new != form.again {
        return again(&ctx, "secret-mismatch");
    }
    let reply = ctx
        .identity()
        .change_secret(id::ChangeSecretRequest {
            current_secret: form.current.clone(),
            new_secret: form.new.clone(),
        })
        .await;
    match reply {
        Ok(_) => ctx.html(&SecretPage {
            chrome: ctx.chrome("secret-title"),
            problem: None,
            done: true,
        }),
        Err(status) if status.code() == tonic::Code::Unauthenticated => {
            again(&ctx, "secret-current-wrong")
        }
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            again(&ctx, "secret-refused")
        }
        Err(status) => ctx.failure(&status),
    }
}
