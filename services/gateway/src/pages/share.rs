//! Opening a shared document with the code its owner gave (or the QR code's link), without
//! an account: the vault checks the code, its expiry and the mandate behind it, and counts
//! tries by the person's address.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::response::Response;
use http::StatusCode;
use passerelle_proto::vault::v1 as pb;
use serde::Deserialize;

use crate::page::{Chrome, Ctx};
use crate::pages::papers::{Tile, long_date, tile};

/// The QR code of `path` on this web front, as inline SVG (no script, no image request).
pub fn qr_svg(ctx: &Ctx, path: &str) -> String {
    let url = match &ctx.app.web_url {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => path.to_owned(),
    };
    match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(220, 220)
                .quiet_zone(true)
                .build();
            // Embedded in the page: the XML declaration goes.
            match svg.find("<svg") {
                Some(start) => svg[start..].to_owned(),
                None => String::new(),
            }
        }
        Err(_) => String::new(),
    }
}

#[derive(Template)]
#[template(path = "share_open.html")]
struct OpenPage {
    chrome: Chrome,
    /// The code typed, or the link's token: carried by each download form.
    code: String,
    tiles: Vec<Tile>,
    until: String,
    problem: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct OpenQuery {
    jeton: Option<String>,
}

/// `GET /partage` (a form for the code), or `GET /partage?jeton=…` (the QR code's link).
pub async fn form(ctx: Ctx, Query(query): Query<OpenQuery>) -> Response {
    match query.jeton {
        Some(token) if !token.trim().is_empty() => documents(&ctx, token.trim()).await,
        _ => ctx.html(&OpenPage {
            chrome: ctx.chrome("share-open-title"),
            code: String::new(),
            tiles: Vec::new(),
            until: String::new(),
            problem: None,
        }),
    }
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// `POST /partage`: the documents the code opens.
pub async fn open(ctx: Ctx, Form(form): Form<CodeForm>) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    documents(&ctx, form.code.trim()).await
}

async fn documents(ctx: &Ctx, code: &str) -> Response {
    let refused = |ctx: &Ctx, status: StatusCode, id: &str| {
        ctx.html_with(
            status,
            &OpenPage {
                chrome: ctx.chrome("share-open-title"),
                code: code.to_owned(),
                tiles: Vec::new(),
                until: String::new(),
                problem: Some(ctx.tr.t(id)),
            },
        )
    };
    if code.is_empty() {
        return refused(ctx, StatusCode::UNPROCESSABLE_ENTITY, "share-code-missing");
    }
    let reply = ctx
        .vault()
        .open_share(pb::OpenShareRequest {
            code: code.to_owned(),
        })
        .await;
    match reply {
        Ok(reply) => {
            let reply = reply.into_inner();
            let until = reply.expires_at.map_or(0, |t| t.seconds);
            let until = time::OffsetDateTime::from_unix_timestamp(until)
                .map(|t| {
                    let d = t.date();
                    long_date(
                        ctx,
                        &format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
                    )
                })
                .unwrap_or_default();
            ctx.html(&OpenPage {
                chrome: ctx.chrome("share-open-title"),
                code: code.to_owned(),
                tiles: reply.documents.iter().map(|d| tile(ctx, d)).collect(),
                until,
                problem: None,
            })
        }
        Err(status) => match status.code() {
            tonic::Code::NotFound
            | tonic::Code::FailedPrecondition
            | tonic::Code::InvalidArgument => {
                refused(ctx, StatusCode::NOT_FOUND, "share-code-wrong")
            }
            _ => ctx.failure(&status),
        },
    }
}

#[derive(Debug, Deserialize)]
pub struct DownloadForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    document_id: String,
}

/// `POST /partage/fichier`: one shared document's bytes.
pub async fn download(ctx: Ctx, Form(form): Form<DownloadForm>) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let reply = ctx
        .vault()
        .download_shared(pb::DownloadSharedRequest {
            code: form.code.trim().to_owned(),
            document_id: form.document_id,
        })
        .await;
    match reply {
        Ok(stream) => crate::pages::papers::stream_download(&ctx, stream.into_inner()).await,
        Err(status) => ctx.failure(&status),
    }
}
