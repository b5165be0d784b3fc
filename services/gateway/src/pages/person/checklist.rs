//! What a procedure needs, and what is missing or out of date.

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use passerelle_proto::vault::v1 as pb;
use serde::Deserialize;

use super::staff;
use crate::page::{Chrome, Ctx};

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
        .vault()
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
