//! "Mes papiers": a person's documents as large tiles with pictograms, each with its expiry in
//! plain words; download; share with a code to give or a QR code to show.

use askama::Template;
use axum::Form;
use axum::body::Body;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use http::{HeaderValue, StatusCode, header};
use passerelle_proto::vault::v1 as pb;
use serde::Deserialize;

use crate::page::{Chrome, Ctx};

/// A document type's pictogram and name.
pub struct Kind {
    pub icon: &'static str,
    pub label: &'static str,
}

/// The pictogram and message id of a document type (`pb::DocumentType` as a number).
pub fn kind(value: i32) -> Kind {
    let (icon, label) = match pb::DocumentType::try_from(value).unwrap_or(pb::DocumentType::Other) {
        pb::DocumentType::IdentityCard => ("id-card", "type-identity-card"),
        pb::DocumentType::Passport => ("passport", "type-passport"),
        pb::DocumentType::ResidencePermit => ("id-card", "type-residence-permit"),
        pb::DocumentType::CarteVitale => ("health", "type-carte-vitale"),
        pb::DocumentType::TaxNotice => ("tax", "type-tax-notice"),
        pb::DocumentType::FranceTravailCertificate => ("work", "type-france-travail"),
        pb::DocumentType::CafCertificate => ("family", "type-caf"),
        pb::DocumentType::ProofOfAddress => ("home", "type-proof-of-address"),
        pb::DocumentType::Domiciliation => ("mail", "type-domiciliation"),
        pb::DocumentType::Cv => ("cv", "type-cv"),
        pb::DocumentType::Payslip => ("payslip", "type-payslip"),
        pb::DocumentType::Other | pb::DocumentType::Unspecified => ("paper", "type-other"),
    };
    Kind { icon, label }
}

/// A document as a tile or a page shows it.
pub struct Tile {
    pub id: String,
    pub title: String,
    pub icon: &'static str,
    pub kind: String,
    /// "Expires on 12 March 2027" / "Expired since…", in plain words, when it matters.
    pub expiry: Option<String>,
    /// Expired, or expiring within 30 days.
    pub warn: bool,
    pub size: String,
}

/// `YYYY-MM-DD` as people read it: `12 mars 2027`, `12 March 2027`.
pub fn long_date(ctx: &Ctx, iso: &str) -> String {
    let Ok(date) = time::Date::parse(
        iso,
        time::macros::format_description!("[year]-[month]-[day]"),
    ) else {
        return iso.to_owned();
    };
    let month = ctx.tr.t(&format!("month-{}", u8::from(date.month())));
    format!("{} {} {}", date.day(), month, date.year())
}

fn size(ctx: &Ctx, bytes: i64) -> String {
    if bytes >= 1_000_000 {
        ctx.tr.t1(
            "size-mb",
            "size",
            format!("{:.1}", bytes as f64 / 1_000_000.0),
        )
    } else {
        ctx.tr.t1("size-kb", "size", (bytes / 1000).max(1))
    }
}

pub fn tile(ctx: &Ctx, doc: &pb::Document) -> Tile {
    let kind = kind(doc.r#type);
    let today = time::OffsetDateTime::from_unix_timestamp(ctx.app.clock.now())
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN);
    let (expiry, warn) = match time::Date::parse(
        &doc.expires_on,
        time::macros::format_description!("[year]-[month]-[day]"),
    ) {
        Ok(expires) if expires < today => (
            Some(
                ctx.tr
                    .t1("expired-since", "date", long_date(ctx, &doc.expires_on)),
            ),
            true,
        ),
        Ok(expires) => (
            Some(
                ctx.tr
                    .t1("expires-on", "date", long_date(ctx, &doc.expires_on)),
            ),
            (expires - today).whole_days() <= 30,
        ),
        Err(_) => (None, false),
    };
    Tile {
        id: doc.id.clone(),
        title: if doc.title.is_empty() {
            ctx.tr.t(kind.label)
        } else {
            doc.title.clone()
        },
        icon: kind.icon,
        kind: ctx.tr.t(kind.label),
        expiry,
        warn,
        size: size(ctx, doc.size_bytes),
    }
}

#[derive(Template)]
#[template(path = "papers.html")]
struct PapersPage {
    chrome: Chrome,
    tiles: Vec<Tile>,
    count: String,
}

/// `GET /mes-papiers`.
pub async fn list(ctx: Ctx) -> Response {
    let Some(session) = ctx.signed_in() else {
        return ctx.to_sign_in();
    };
    let reply = ctx
        .vault()
        .list_documents(pb::ListDocumentsRequest {
            owner_id: session.subject.clone(),
            ..Default::default()
        })
        .await;
    let docs = match reply {
        Ok(reply) => reply.into_inner().documents,
        Err(status) => return ctx.failure(&status),
    };
    let tiles: Vec<Tile> = docs.iter().map(|d| tile(&ctx, d)).collect();
    ctx.html(&PapersPage {
        chrome: ctx.chrome("papers-title"),
        count: ctx.tr.n("papers-count", "count", tiles.len() as i64),
        tiles,
    })
}

#[derive(Template)]
#[template(path = "paper.html")]
struct PaperPage {
    chrome: Chrome,
    tile: Tile,
    issued: Option<String>,
}

/// `GET /mes-papiers/{id}`.
pub async fn show(ctx: Ctx, Path(id): Path<String>) -> Response {
    let Some(session) = ctx.signed_in() else {
        return ctx.to_sign_in();
    };
    let reply = ctx
        .vault()
        .get_document(pb::GetDocumentRequest {
            owner_id: session.subject.clone(),
            document_id: id,
        })
        .await;
    let doc = match reply {
        Ok(reply) => reply.into_inner(),
        Err(status) => return ctx.failure(&status),
    };
    let issued = (!doc.issued_on.is_empty()).then(|| {
        ctx.tr
            .t1("issued-on", "date", long_date(&ctx, &doc.issued_on))
    });
    ctx.html(&PaperPage {
        chrome: ctx.chrome("paper-title"),
        tile: tile(&ctx, &doc),
        issued,
    })
}

/// A file name for a download: the title, safe in a header, with the type's extension.
pub fn file_name(title: &str, content_type: &str) -> String {
    let stem: String = title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let extension = match content_type {
        "application/pdf" => "pdf",
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/heic" => "heic",
        "image/webp" => "webp",
        _ => "bin",
    };
    format!(
        "{}.{extension}",
        if stem.is_empty() { "document" } else { &stem }
    )
}

/// A document's bytes as a download, from a vault stream (the document first, then chunks).
pub async fn stream_download(
    ctx: &Ctx,
    mut stream: tonic::Streaming<pb::DownloadResponse>,
) -> Response {
    let first = match stream.message().await {
        Ok(Some(pb::DownloadResponse {
            part: Some(pb::download_response::Part::Document(doc)),
        })) => doc,
        Ok(_) => {
            return ctx.message(StatusCode::BAD_GATEWAY, "error-internal", None);
        }
        Err(status) => return ctx.failure(&status),
    };
    let name = file_name(&first.title, &first.content_type);
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let body = Body::from_stream(stream.filter_map(|message| async move {
        match message {
            Ok(pb::DownloadResponse {
                part: Some(pb::download_response::Part::Chunk(chunk)),
            }) => Some(Ok(bytes::Bytes::from(chunk))),
            Ok(_) => None,
            // Cut short: the browser sees an incomplete download, never a damaged file.
            Err(status) => Some(Err(std::io::Error::other(status.message().to_owned()))),
        }
    }));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    // Always a download, never shown in the page: a document is never run as a web page.
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Ok(value) = HeaderValue::from_str(&first.size_bytes.to_string()) {
        headers.insert(header::CONTENT_LENGTH, value);
    }
    response
}

/// `GET /mes-papiers/{id}/fichier`.
pub async fn download(ctx: Ctx, Path(id): Path<String>) -> Response {
    let Some(session) = ctx.signed_in() else {
        return ctx.to_sign_in();
    };
    let reply = ctx
        .vault()
        .download(pb::DownloadRequest {
            owner_id: session.subject.clone(),
            document_id: id,
        })
        .await;
    match reply {
        Ok(stream) => stream_download(&ctx, stream.into_inner()).await,
        Err(status) => ctx.failure(&status),
    }
}

#[derive(Debug, Deserialize)]
pub struct ShareForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    recipient: String,
    #[serde(default)]
    days: String,
}

#[derive(Template)]
#[template(path = "share_made.html")]
struct ShareMadePage {
    chrome: Chrome,
    code: String,
    until: String,
    recipient: String,
    qr_svg: String,
}

/// `POST /mes-papiers/{id}/partager`: a code for this document, shown once, to give.
pub async fn share(ctx: Ctx, Path(id): Path<String>, Form(form): Form<ShareForm>) -> Response {
    let Some(session) = ctx.signed_in() else {
        return ctx.to_sign_in();
    };
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.forbidden_form();
    }
    let days: i32 = match form.days.trim() {
        "" => 3,
        d => match d.parse::<i32>() {
            Ok(d) if (1..=7).contains(&d) => d,
            _ => return ctx.message(StatusCode::UNPROCESSABLE_ENTITY, "share-days-invalid", None),
        },
    };
    let reply = ctx
        .vault()
        .create_share(pb::CreateShareRequest {
            owner_id: session.subject.clone(),
            document_ids: vec![id],
            valid_hours: days * 24,
            one_time: false,
            recipient: form.recipient.trim().chars().take(120).collect(),
        })
        .await;
    let share = match reply {
        Ok(reply) => reply.into_inner(),
        Err(status) => return ctx.failure(&status),
    };
    let until = share.expires_at.map_or(0, |t| t.seconds);
    let until = time::OffsetDateTime::from_unix_timestamp(until)
        .map(|t| {
            let date = t.date();
            let iso = format!(
                "{:04}-{:02}-{:02}",
                date.year(),
                u8::from(date.month()),
                date.day()
            );
            long_date(&ctx, &iso)
        })
        .unwrap_or_default();
    let link = format!("/partage?jeton={}", share.link_token);
    ctx.html(&ShareMadePage {
        chrome: ctx.chrome("share-made-title"),
        code: share.code,
        until,
        recipient: share.recipient,
        qr_svg: crate::pages::share::qr_svg(&ctx, &link),
    })
}
