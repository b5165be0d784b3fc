//! `passerelle.vault.v1.Vault` over gRPC, streaming both ways in bounded memory.

use std::pin::Pin;

use futures::Stream;
use passerelle_kit::ServiceError;
use passerelle_kit::grpc::{self, Reply, invalid, required, timestamp};
use passerelle_kit::server::principal;
use passerelle_proto::vault::v1 as pb;
use passerelle_proto::vault::v1::vault_server::{Vault as VaultRpc, VaultServer};
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::domain::{Document, DocumentType, format_date, parse_date, parse_text};
use crate::procedures::{Procedure, Requirement};
use crate::service::{ByteStream, ShareAccess, ShareRecord, UploadMeta, Vault};

#[derive(Clone, Debug)]
pub struct VaultGrpc {
    service: Vault,
}

impl VaultGrpc {
    pub fn new(service: Vault) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> VaultServer<Self> {
        // Chunks are 64 KiB; leave room for the envelope.
        VaultServer::new(self).max_decoding_message_size(1024 * 1024)
    }
}

type DownloadStream = Pin<Box<dyn Stream<Item = Result<pb::DownloadResponse, Status>> + Send>>;

/// How long a share code works when the request does not say: three days, time to reach an
/// office and come back.
pub const DEFAULT_SHARE_HOURS: i64 = 72;

fn kind(value: i32) -> Result<DocumentType, Status> {
    let kinds = DocumentType::ALL;
    usize::try_from(value)
        .ok()
        .filter(|v| (1..=kinds.len()).contains(v))
        .map(|v| kinds[v - 1])
        .ok_or_else(|| {
            invalid(format!(
                "type {value} is not accepted: expected one of {}",
                accepted_kinds()
            ))
        })
}

/// Every accepted document type, by its protobuf name, number and words:
/// `DOCUMENT_TYPE_IDENTITY_CARD (1, identity card), …`.
fn accepted_kinds() -> String {
    (1..)
        .map_while(|n| pb::DocumentType::try_from(n).ok().map(|kind| (n, kind)))
        .map(|(n, kind)| {
            let name = kind.as_str_name();
            let words = name
                .trim_start_matches("DOCUMENT_TYPE_")
                .replace('_', " ")
                .to_lowercase();
            format!("{name} ({n}, {words})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn to_pb_kind(kind: DocumentType) -> i32 {
    DocumentType::ALL
        .iter()
        .position(|k| *k == kind)
        .map_or(0, |i| i as i32 + 1)
}

pub fn to_pb_document(d: &Document) -> pb::Document {
    pb::Document {
        id: d.id.clone(),
        owner_id: d.owner_id.clone(),
        r#type: to_pb_kind(d.kind),
        title: d.title.clone(),
        folder: d.folder.clone(),
        content_type: d.content_type.clone(),
        size_bytes: d.size as i64,
        content_hash: d.content_hash.clone(),
        issued_on: format_date(d.issued_on),
        expires_on: format_date(d.expires_on),
        obsolete: d.obsolete,
        private: d.private,
        notes: d.notes.clone(),
        created_at: timestamp(d.created_at),
        created_by: d.created_by.clone(),
    }
}

/// A document as whoever holds a share code sees it: what the paper is and its hash, not the
/// person's file around it (their account id, the notes, the folders, who filed it).
fn to_pb_shared_document(d: &Document) -> pb::Document {
    pb::Document {
        owner_id: String::new(),
        folder: String::new(),
        notes: String::new(),
        created_by: String::new(),
        ..to_pb_document(d)
    }
}

fn to_pb_requirement(r: &Requirement) -> pb::Requirement {
    pb::Requirement {
        id: r.id.clone(),
        label: r.label.clone(),
        accepted_types: r.accepted_types.iter().map(|k| to_pb_kind(*k)).collect(),
        max_age_days: r.max_age_days as i32,
    }
}

fn to_pb_procedure(p: &Procedure) -> pb::Procedure {
    pb::Procedure {
        id: p.id.clone(),
        title: p.title.clone(),
        requirements: p.requirements.iter().map(to_pb_requirement).collect(),
    }
}

fn to_pb_share(
    share: &ShareRecord,
    accesses: &[ShareAccess],
    code: String,
    link_token: String,
) -> pb::Share {
    pb::Share {
        id: share.id.clone(),
        code,
        link_token,
        document_ids: share.document_ids.clone(),
        expires_at: timestamp(share.expires_at),
        one_time: share.one_time,
        revoked: share.revoked,
        recipient: share.recipient.clone(),
        accesses: accesses
            .iter()
            .map(|a| pb::ShareAccess {
                at: timestamp(a.at),
                document_id: a.document_id.clone(),
                opened_by: a.opened_by.clone(),
                action: a.action.clone(),
            })
            .collect(),
    }
}

/// The document, then its bytes; an error ends the stream. A stream that ends before the
/// document's last byte (its reader took nothing for the idle time, or the server is stopping)
/// ends with ABORTED, never with OK: a client cannot take a cut file for a whole one.
fn download_stream(doc: pb::Document, bytes: ByteStream) -> DownloadStream {
    let expected = u64::try_from(doc.size_bytes).unwrap_or(0);
    let head = pb::DownloadResponse {
        part: Some(pb::download_response::Part::Document(doc)),
    };
    let body = futures::stream::unfold(
        (bytes, 0u64, false),
        move |(mut rx, sent, done)| async move {
            if done {
                return None;
            }
            match rx.recv().await {
                Some(Ok(chunk)) => {
                    let sent = sent + chunk.len() as u64;
                    let part = pb::DownloadResponse {
                        part: Some(pb::download_response::Part::Chunk(chunk.to_vec())),
                    };
                    Some((Ok(part), (rx, sent, false)))
                }
                Some(Err(e)) => Some((Err(Status::from(e)), (rx, sent, true))),
                None if sent < expected => {
                    let cut = Status::aborted(format!(
                        "the download stopped at {sent} of {expected} bytes (nothing was read for too long, or the server is stopping): start it again"
                    ));
                    Some((Err(cut), (rx, sent, true)))
                }
                None => None,
            }
        },
    );
    Box::pin(tokio_stream::once(Ok(head)).chain(body))
}

/// The caller's address, for brute-force protection (behind a trusted proxy, the client's).
fn source<T>(request: &Request<T>) -> String {
    passerelle_kit::net::client_address(request)
}

/// The next message of an upload, or an end to a stream that went quiet.
async fn next_message(
    stream: &mut Streaming<pb::UploadRequest>,
    idle: std::time::Duration,
) -> Result<Option<pb::UploadRequest>, Status> {
    passerelle_kit::server::next_message(stream, idle)
        .await
        .map_err(|status| {
            if status.code() == tonic::Code::DeadlineExceeded {
                Status::deadline_exceeded(format!(
                    "nothing arrived for {} ms: the upload stopped; what was stored is kept, resume with UploadStatus",
                    idle.as_millis()
                ))
            } else {
                status
            }
        })
}

#[tonic::async_trait]
impl VaultRpc for VaultGrpc {
    async fn upload(&self, request: Request<Streaming<pb::UploadRequest>>) -> Reply<pb::Document> {
        let (caller, request) = grpc::caller(request)?;
        let mut stream = request;
        let idle = self.service.limits().stream_idle;
        let start = match next_message(&mut stream, idle).await? {
            Some(pb::UploadRequest {
                part: Some(pb::upload_request::Part::Start(start)),
            }) => start,
            _ => return Err(invalid("the first message of an upload is UploadStart")),
        };
        let meta = UploadMeta {
            upload_id: required("upload_id", &start.upload_id)?.to_owned(),
            owner_id: grpc::or_caller(&start.owner_id, &caller).to_owned(),
            kind: kind(start.r#type)?,
            title: parse_text("title", &start.title, 200, false)?,
            folder: parse_text("folder", &start.folder, 100, false)?,
            issued_on: parse_date("issued_on", &start.issued_on)?,
            expires_on: parse_date("expires_on", &start.expires_on)?,
            private: start.private,
            notes: parse_text("notes", &start.notes, 2000, true)?,
            size: u64::try_from(start.size_bytes).map_err(|_| invalid("size_bytes is negative"))?,
            offset: u64::try_from(start.offset).map_err(|_| invalid("offset is negative"))?,
        };
        let mut upload = self.service.begin_upload(&caller, meta).await?;
        loop {
            match next_message(&mut stream, idle).await {
                Ok(Some(pb::UploadRequest {
                    part: Some(pb::upload_request::Part::Chunk(bytes)),
                })) => {
                    upload.write(&bytes).await?;
                }
                Ok(Some(_)) => {
                    return Err(invalid("after UploadStart, an upload sends only chunks"));
                }
                Ok(None) => break,
                // The client went away mid-stream: what is stored stays, for a resume.
                Err(status) => return Err(status),
            }
        }
        Ok(Response::new(to_pb_document(&upload.finish().await?)))
    }

    async fn upload_status(
        &self,
        request: Request<pb::UploadStatusRequest>,
    ) -> Reply<pb::UploadStatusResponse> {
        let (caller, request) = grpc::caller(request)?;
        let id = required("upload_id", &request.upload_id)?.to_owned();
        let (received, size, doc) = self.service.upload_status(&caller, &id).await?;
        Ok(Response::new(pb::UploadStatusResponse {
            received_bytes: received as i64,
            size_bytes: size as i64,
            document: doc.as_ref().map(to_pb_document),
        }))
    }

    type DownloadStream = DownloadStream;

    async fn download(&self, request: Request<pb::DownloadRequest>) -> Reply<Self::DownloadStream> {
        let (caller, r) = grpc::caller(request)?;
        let (doc, bytes) = self
            .service
            .download(
                &caller,
                grpc::or_caller(&r.owner_id, &caller),
                required("document_id", &r.document_id)?,
            )
            .await?;
        Ok(Response::new(download_stream(to_pb_document(&doc), bytes)))
    }

    async fn list_documents(
        &self,
        request: Request<pb::ListDocumentsRequest>,
    ) -> Reply<pb::ListDocumentsResponse> {
        let (caller, r) = grpc::caller(request)?;
        let folder = (!r.folder.trim().is_empty()).then(|| r.folder.trim().to_owned());
        let docs = self
            .service
            .list(
                &caller,
                grpc::or_caller(&r.owner_id, &caller),
                folder.as_deref(),
                r.include_obsolete,
            )
            .await?;
        Ok(Response::new(pb::ListDocumentsResponse {
            documents: docs.iter().map(to_pb_document).collect(),
        }))
    }

    async fn get_document(&self, request: Request<pb::GetDocumentRequest>) -> Reply<pb::Document> {
        let (caller, r) = grpc::caller(request)?;
        let doc = self
            .service
            .get(
                &caller,
                grpc::or_caller(&r.owner_id, &caller),
                required("document_id", &r.document_id)?,
            )
            .await?;
        Ok(Response::new(to_pb_document(&doc)))
    }

    async fn update_document(
        &self,
        request: Request<pb::UpdateDocumentRequest>,
    ) -> Reply<pb::Document> {
        let (caller, r) = grpc::caller(request)?;
        let title = r
            .title
            .as_deref()
            .map(|v| parse_text("title", v, 200, false))
            .transpose()?;
        let folder = r
            .folder
            .as_deref()
            .map(|v| parse_text("folder", v, 100, false))
            .transpose()?;
        let issued = r
            .issued_on
            .as_deref()
            .map(|v| parse_date("issued_on", v))
            .transpose()?;
        let expires = r
            .expires_on
            .as_deref()
            .map(|v| parse_date("expires_on", v))
            .transpose()?;
        let notes = r
            .notes
            .as_deref()
            .map(|v| parse_text("notes", v, 2000, true))
            .transpose()?;
        let new_kind = r.r#type.map(kind).transpose()?;
        let (obsolete, private) = (r.obsolete, r.private);
        let doc = self
            .service
            .update(
                &caller,
                grpc::or_caller(&r.owner_id, &caller),
                required("document_id", &r.document_id)?,
                move |doc, own| {
                    let mut fields = Vec::new();
                    if let Some(v) = title {
                        doc.title = v;
                        fields.push("title");
                    }
                    if let Some(v) = folder {
                        doc.folder = v;
                        fields.push("folder");
                    }
                    if let Some(v) = issued {
                        doc.issued_on = v;
                        fields.push("issued_on");
                    }
                    if let Some(v) = expires {
                        doc.expires_on = v;
                        doc.expiry_announced = false;
                        fields.push("expires_on");
                    }
                    if let Some(v) = notes {
                        doc.notes = v;
                        fields.push("notes");
                    }
                    if let Some(v) = new_kind {
                        doc.kind = v;
                        fields.push("type");
                    }
                    if let Some(v) = obsolete {
                        doc.obsolete = v;
                        fields.push("obsolete");
                    }
                    if let Some(v) = private {
                        if !own {
                            return Err(ServiceError::PermissionDenied(
                                "only the owner decides what is private".into(),
                            ));
                        }
                        doc.private = v;
                        fields.push("private");
                    }
                    Ok(fields)
                },
            )
            .await?;
        Ok(Response::new(to_pb_document(&doc)))
    }

    async fn delete_document(
        &self,
        request: Request<pb::DeleteDocumentRequest>,
    ) -> Reply<pb::DeleteDocumentResponse> {
        let (caller, r) = grpc::caller(request)?;
        self.service
            .delete(
                &caller,
                grpc::or_caller(&r.owner_id, &caller),
                required("document_id", &r.document_id)?,
            )
            .await?;
        Ok(Response::new(pb::DeleteDocumentResponse {}))
    }

    async fn get_usage(&self, request: Request<pb::GetUsageRequest>) -> Reply<pb::Usage> {
        let (caller, request) = grpc::caller(request)?;
        let owner = grpc::or_caller(&request.owner_id, &caller).to_owned();
        let usage = self.service.usage_for(&caller, &owner).await?;
        let limits = self.service.limits();
        Ok(Response::new(pb::Usage {
            bytes_used: usage.bytes as i64,
            bytes_quota: limits.quota_bytes as i64,
            documents: usage.documents as i64,
            max_document_bytes: limits.max_document_bytes as i64,
        }))
    }

    async fn list_procedures(
        &self,
        _request: Request<pb::ListProceduresRequest>,
    ) -> Reply<pb::ListProceduresResponse> {
        Ok(Response::new(pb::ListProceduresResponse {
            procedures: self
                .service
                .procedures()
                .iter()
                .map(to_pb_procedure)
                .collect(),
        }))
    }

    async fn checklist(
        &self,
        request: Request<pb::ChecklistRequest>,
    ) -> Reply<pb::ChecklistResponse> {
        let (caller, r) = grpc::caller(request)?;
        let (procedure, lines) = self
            .service
            .checklist(
                &caller,
                grpc::or_caller(&r.owner_id, &caller),
                required("procedure_id", &r.procedure_id)?,
            )
            .await?;
        let complete = lines
            .iter()
            .all(|l| l.status == crate::procedures::Status::Ok);
        Ok(Response::new(pb::ChecklistResponse {
            procedure: Some(to_pb_procedure(&procedure)),
            items: lines
                .iter()
                .map(|l| pb::ChecklistItem {
                    requirement: Some(to_pb_requirement(&l.requirement)),
                    status: l.status.as_str().to_owned(),
                    document_id: l.document_id.clone().unwrap_or_default(),
                    advice: l.status.advice(&l.requirement),
                })
                .collect(),
            complete,
        }))
    }

    async fn create_share(&self, request: Request<pb::CreateShareRequest>) -> Reply<pb::Share> {
        let (caller, r) = grpc::caller(request)?;
        let recipient = parse_text("recipient", &r.recipient, 200, false)?;
        let created = self
            .service
            .create_share(
                &caller,
                grpc::or_caller(&r.owner_id, &caller),
                r.document_ids,
                match r.valid_hours {
                    0 => DEFAULT_SHARE_HOURS,
                    hours => i64::from(hours),
                },
                r.one_time,
                recipient,
            )
            .await?;
        Ok(Response::new(to_pb_share(
            &created.record,
            &[],
            created.code,
            created.link_token,
        )))
    }

    async fn revoke_share(&self, request: Request<pb::RevokeShareRequest>) -> Reply<pb::Share> {
        let (caller, r) = grpc::caller(request)?;
        let share = self
            .service
            .revoke_share(
                &caller,
                grpc::or_caller(&r.owner_id, &caller),
                required("share_id", &r.share_id)?,
            )
            .await?;
        Ok(Response::new(to_pb_share(
            &share,
            &[],
            String::new(),
            String::new(),
        )))
    }

    async fn list_shares(
        &self,
        request: Request<pb::ListSharesRequest>,
    ) -> Reply<pb::ListSharesResponse> {
        let (caller, request) = grpc::caller(request)?;
        let owner = grpc::or_caller(&request.owner_id, &caller).to_owned();
        let shares = self.service.list_shares(&caller, &owner).await?;
        Ok(Response::new(pb::ListSharesResponse {
            shares: shares
                .iter()
                .map(|(s, a)| to_pb_share(s, a, String::new(), String::new()))
                .collect(),
        }))
    }

    async fn open_share(
        &self,
        request: Request<pb::OpenShareRequest>,
    ) -> Reply<pb::OpenShareResponse> {
        let from = source(&request);
        let caller = principal(&request).ok().cloned();
        let code = required("code", &request.get_ref().code)?.to_owned();
        let (share, docs) = self
            .service
            .open_share(&code, caller.as_ref(), &from)
            .await?;
        Ok(Response::new(pb::OpenShareResponse {
            documents: docs.iter().map(to_pb_shared_document).collect(),
            expires_at: timestamp(share.expires_at),
        }))
    }

    type DownloadSharedStream = DownloadStream;

    async fn download_shared(
        &self,
        request: Request<pb::DownloadSharedRequest>,
    ) -> Reply<Self::DownloadSharedStream> {
        let from = source(&request);
        let caller = principal(&request).ok().cloned();
        let r = request.into_inner();
        let (doc, bytes) = self
            .service
            .download_shared(
                required("code", &r.code)?,
                required("document_id", &r.document_id)?,
                caller.as_ref(),
                &from,
            )
            .await?;
        Ok(Response::new(download_stream(
            to_pb_shared_document(&doc),
            bytes,
        )))
    }
}
