//! The agents' desk: finding a person of their structure by name, username or date of birth.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use http::StatusCode;
use passerelle_proto::identity::v1 as id;
use serde::Deserialize;

use crate::page::{Chrome, Ctx};
use crate::pages::papers::long_date;

/// A person found.
pub struct Found {
    pub id: String,
    pub name: String,
    pub born: String,
    pub username: String,
}

#[derive(Template)]
#[template(path = "desk.html")]
struct DeskPage {
    chrome: Chrome,
    query: String,
    born: String,
    searched: bool,
    people: Vec<Found>,
    more: bool,
    results_title: String,
    problem: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    naissance: String,
}

/// `GET /personnes?q=…&naissance=…`.
pub async fn search(ctx: Ctx, Query(query): Query<SearchQuery>) -> Response {
    let Some(session) = ctx.signed_in() else {
        return ctx.to_sign_in();
    };
    if !session.is_staff() {
        return ctx.message(StatusCode::FORBIDDEN, "error-denied", None);
    }
    let mut page = DeskPage {
        chrome: ctx.chrome("desk-title"),
        query: query.q.clone(),
        born: query.naissance.clone(),
        searched: false,
        people: Vec::new(),
        more: false,
        results_title: String::new(),
        problem: None,
    };
    if query.q.trim().is_empty() && query.naissance.trim().is_empty() {
        return ctx.html(&page);
    }
    let reply = ctx
        .identity()
        .search_accounts(id::SearchAccountsRequest {
            query: query.q.trim().to_owned(),
            birth_date: query.naissance.trim().to_owned(),
            ..Default::default()
        })
        .await;
    match reply {
        Ok(reply) => {
            let reply = reply.into_inner();
            page.searched = true;
            page.more = reply.more;
            page.results_title = ctx
                .tr
                .n("search-results", "count", reply.accounts.len() as i64);
            page.people = reply
                .accounts
                .into_iter()
                .map(|a| Found {
                    name: format!("{} {}", a.given_name, a.family_name),
                    born: if a.birth_date.is_empty() {
                        String::new()
                    } else {
                        ctx.tr.t1("born-on", "date", long_date(&ctx, &a.birth_date))
                    },
                    username: a.username,
                    id: a.id,
                })
                .collect();
            ctx.html(&page)
        }
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            page.problem = Some(ctx.tr.t("search-invalid"));
            ctx.html_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(status) => ctx.failure(&status),
    }
}
