//! The person's papers under a live mandate: several uploaded at once (spooled to disk, bounded),
//! downloads, and share codes to print.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path};
use axum::response::Response;
use http::StatusCode;
use passerelle_proto::vault::v1 as pb;
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

use super::{Person, date_of, found, staff, staff_form};
use crate::page::{Chrome, Ctx, see_other};

/// The largest file an agent uploads through the web front.
pub const MAX_FILE_BYTES: u64 = 50_000_000;
/// Files in one upload form.
const MAX_FILES: usize = 8;

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
    ctx.vault()
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
        .vault()
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
    if let Err(response) = staff_form(&ctx, &form.csrf) {
        return *response;
    }
    let reply = ctx
        .vault()
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
