//! The vault's operations and their rules. No gRPC here: [`crate::grpc`] adapts.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use passerelle_access::throttle::{Throttle, ThrottleKey};
use passerelle_access::{Access, Grant, Scope};
use passerelle_bus::event;
use passerelle_bus::outbox::{self, OutboxRelay};
use passerelle_kit::ServiceError;
use passerelle_kit::auth::Principal;
use passerelle_kit::clock::DynClock;
use passerelle_kit::secrets::MasterKey;
use passerelle_proto::events::v1 as events;
use passerelle_store::{DynStore, KeyRange, Mutation, Row};
use serde::{Deserialize, Serialize};
use time::Date;
use tokio::sync::mpsc;

use crate::blobs::Blobs;
use crate::crypto::{self, CHUNKS_PER_PART, DataKey, PART, WrappingKey};
use crate::domain::{Document, DocumentType, sniff};
use crate::procedures::{self, Procedure, Status};

pub const PRODUCER: &str = "vault";
const VAULT_KEYS: &str = "vault_keys";
const DOCUMENTS: &str = "documents";
const UPLOADS: &str = "uploads";
const OPEN_UPLOADS: &str = "open_uploads";
const USAGE: &str = "vault_usage";
const SHARES: &str = "shares";
const SHARE_CODES: &str = "share_codes";
const SHARE_ACCESS: &str = "share_access";
const EXPIRY_INDEX: &str = "document_expiry";
/// Bytes per message of a download stream: large enough that per-message costs vanish, small
/// enough to start flowing at once.
const STREAM_CHUNK: usize = 256 * 1024;
/// Bytes sniffed to tell the content type (office formats need to see the zip's first entries).
const SNIFF_BYTES: usize = 8 * 1024;

/// Sizes the vault enforces.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_document_bytes: u64,
    pub quota_bytes: u64,
    /// Days ahead of a document's expiry when the reminder event goes out.
    pub expiry_notice_days: i64,
}

fn unavailable(e: passerelle_store::Error) -> ServiceError {
    ServiceError::Unavailable(format!("the store did not answer: {e}"))
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::InvalidArgument(message.into())
}

/// Altered or lost storage: said plainly (DATA_LOSS), because the client must act on it.
fn damaged(doc: &str, what: impl std::fmt::Display) -> ServiceError {
    ServiceError::DataLoss(format!(
        "document {doc} is damaged in storage ({what}): nothing more is sent; restore it from a backup or upload it again"
    ))
}

fn event_mutation(event_type: &str, aggregate: &str, payload: &impl prost::Message) -> Mutation {
    let (envelope, record) = event::new_record(PRODUCER, event_type, aggregate, payload);
    outbox::mutation(PRODUCER, &envelope.event_id, &record)
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, ServiceError> {
    serde_json::to_vec(value).map_err(internal)
}

/// A new document's details, as asked for.
#[derive(Clone, Debug)]
pub struct UploadMeta {
    pub upload_id: String,
    pub owner_id: String,
    pub kind: DocumentType,
    pub title: String,
    pub folder: String,
    pub issued_on: Option<Date>,
    pub expires_on: Option<Date>,
    pub private: bool,
    pub notes: String,
    pub size: u64,
    pub offset: u64,
}

/// An upload as the store keeps it between streams.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct UploadState {
    upload_id: String,
    owner_id: String,
    document_id: String,
    kind: DocumentType,
    title: String,
    folder: String,
    issued_on: Option<Date>,
    expires_on: Option<Date>,
    private: bool,
    notes: String,
    size: u64,
    received: u64,
    part_hashes: Vec<String>,
    content_type: Option<String>,
    wrapped_key: Vec<u8>,
    started_at: i64,
    created_by: String,
    /// Set when the document is stored: the same upload id returns it again.
    completed: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageCounter {
    pub bytes: u64,
    pub documents: u64,
}

/// A share as the store keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareRecord {
    pub id: String,
    pub owner_id: String,
    pub document_ids: Vec<String>,
    pub expires_at: i64,
    pub one_time: bool,
    pub revoked: bool,
    pub recipient: String,
    /// One-time shares: the documents already downloaded.
    pub downloaded: BTreeSet<String>,
    code_hash: String,
    link_hash: String,
    pub created_by: String,
}

/// One access through a share.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareAccess {
    pub share_id: String,
    pub at: i64,
    pub document_id: String,
    pub opened_by: String,
    pub action: String,
}

/// A new share, with its code and link shown once.
#[derive(Clone, Debug)]
pub struct NewShare {
    pub record: ShareRecord,
    pub code: String,
    pub link_token: String,
}

/// What the clean-up pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cleanup {
    pub abandoned_uploads: usize,
    pub orphan_documents: usize,
}

/// A checklist line.
#[derive(Clone, Debug)]
pub struct ChecklistLine {
    pub requirement: procedures::Requirement,
    pub status: Status,
    pub document_id: Option<String>,
}

#[derive(Clone)]
pub struct Vault {
    store: DynStore,
    blobs: Blobs,
    access: Access,
    master: MasterKey,
    clock: DynClock,
    relay: OutboxRelay,
    throttle: Throttle,
    limits: Limits,
    procedures: Arc<Vec<Procedure>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("blobs", &self.blobs)
            .finish_non_exhaustive()
    }
}

/// What a reader of a document receives: its bytes in order, or an error, after which nothing
/// more comes.
pub type ByteStream = mpsc::Receiver<Result<Bytes, ServiceError>>;

impl Vault {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: DynStore,
        blobs: Blobs,
        master: MasterKey,
        clock: DynClock,
        relay: OutboxRelay,
        limits: Limits,
        procedures: Vec<Procedure>,
    ) -> Self {
        Self {
            access: Access::new(store.clone()),
            throttle: Throttle::new(store.clone()),
            store,
            blobs,
            master,
            clock,
            relay,
            limits,
            procedures: Arc::new(procedures),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    fn today(&self) -> Date {
        time::OffsetDateTime::from_unix_timestamp(self.now()).map_or(Date::MIN, |t| t.date())
    }

    async fn commit(&self, mutations: Vec<Mutation>) -> Result<(), ServiceError> {
        self.store.batch(mutations).await.map_err(unavailable)?;
        self.relay.notify();
        Ok(())
    }

    // ----- access ---------------------------------------------------------------------------

    /// The owner, or an agent under a `documents` mandate. Admins have no access to documents.
    async fn authorize(&self, principal: &Principal, owner: &str) -> Result<Grant, ServiceError> {
        self.access
            .authorize(principal, owner, Scope::Documents, self.now())
            .await
    }

    fn visible(grant: &Grant, doc: &Document) -> bool {
        matches!(grant, Grant::Own) || !doc.private
    }

    async fn audit(
        &self,
        owner: &str,
        grant: &Grant,
        action: &str,
        detail: &str,
    ) -> Result<(), ServiceError> {
        if let Some(m) = self.access.audit(owner, grant, action, detail, self.now()) {
            self.store.batch(vec![m]).await.map_err(unavailable)?;
        }
        Ok(())
    }

    // ----- keys -----------------------------------------------------------------------------

    /// The owner's vault key, made on first use.
    async fn vault_key(&self, owner: &str, create: bool) -> Result<WrappingKey, ServiceError> {
        let context = format!("vault-key:{owner}");
        if let Some(sealed) = self
            .store
            .get(VAULT_KEYS, owner, "")
            .await
            .map_err(unavailable)?
        {
            let raw = self
                .master
                .open(&context, &sealed)
                .map_err(|e| damaged(owner, format!("vault key: {e}")))?;
            return WrappingKey::from_bytes(&raw)
                .ok_or_else(|| damaged(owner, "vault key has the wrong length"));
        }
        if !create {
            return Err(ServiceError::NotFound(format!(
                "there is no vault for `{owner}`"
            )));
        }
        let key = WrappingKey::generate();
        let sealed = self.master.seal(&context, key.as_bytes());
        if !self
            .store
            .put_if_absent(Row::new(VAULT_KEYS, owner, "", sealed))
            .await
            .map_err(unavailable)?
        {
            // Another upload made it first: use theirs.
            return Box::pin(self.vault_key(owner, false)).await;
        }
        tracing::info!(owner_id = %owner, "vault provisioned");
        Ok(key)
    }

    /// Provisions the vault of a new account (on `AccountCreated`).
    pub async fn provision(&self, owner: &str) -> Result<(), ServiceError> {
        self.vault_key(owner, true).await.map(drop)
    }

    async fn data_key(&self, doc: &Document) -> Result<DataKey, ServiceError> {
        let vault = self.vault_key(&doc.owner_id, false).await?;
        let secret = vault
            .unwrap(&format!("doc-key:{}", doc.id), &doc.wrapped_key)
            .ok_or_else(|| damaged(&doc.id, "its key does not open"))?;
        DataKey::from_secret(&secret)
            .ok_or_else(|| damaged(&doc.id, "its key has the wrong length"))
    }

    // ----- documents ------------------------------------------------------------------------

    async fn load(&self, owner: &str, doc_id: &str) -> Result<Option<Document>, ServiceError> {
        self.store
            .get(DOCUMENTS, owner, doc_id)
            .await
            .map_err(unavailable)?
            .map(|b| serde_json::from_slice(&b).map_err(internal))
            .transpose()
    }

    /// A document the principal may see, or NOT_FOUND (private ones do not exist for agents).
    async fn visible_document(
        &self,
        grant: &Grant,
        owner: &str,
        doc_id: &str,
    ) -> Result<Document, ServiceError> {
        self.load(owner, doc_id)
            .await?
            .filter(|d| Self::visible(grant, d))
            .ok_or_else(|| ServiceError::NotFound(format!("no document `{doc_id}` in this vault")))
    }

    async fn all_documents(&self, owner: &str) -> Result<Vec<Document>, ServiceError> {
        let mut out = Vec::new();
        let rows = self
            .store
            .scan_all(DOCUMENTS, owner)
            .await
            .map_err(unavailable)?;
        for (_, bytes) in &rows {
            out.push(serde_json::from_slice(bytes).map_err(internal)?);
        }
        Ok(out)
    }

    pub async fn list(
        &self,
        principal: &Principal,
        owner: &str,
        folder: Option<&str>,
        include_obsolete: bool,
    ) -> Result<Vec<Document>, ServiceError> {
        let grant = self.authorize(principal, owner).await?;
        let docs: Vec<Document> = self
            .all_documents(owner)
            .await?
            .into_iter()
            .filter(|d| Self::visible(&grant, d))
            .filter(|d| folder.is_none_or(|f| d.folder == f))
            .filter(|d| include_obsolete || !d.obsolete)
            .collect();
        self.audit(
            owner,
            &grant,
            "vault.ListDocuments",
            &format!("{} documents", docs.len()),
        )
        .await?;
        Ok(docs)
    }

    pub async fn get(
        &self,
        principal: &Principal,
        owner: &str,
        doc_id: &str,
    ) -> Result<Document, ServiceError> {
        let grant = self.authorize(principal, owner).await?;
        self.visible_document(&grant, owner, doc_id).await
    }

    /// Changes to a document's details; `None` leaves a field as it is.
    #[allow(clippy::too_many_arguments)]
    pub async fn update(
        &self,
        principal: &Principal,
        owner: &str,
        doc_id: &str,
        change: impl FnOnce(&mut Document, bool) -> Result<Vec<&'static str>, ServiceError>,
    ) -> Result<Document, ServiceError> {
        let grant = self.authorize(principal, owner).await?;
        let mut doc = self.visible_document(&grant, owner, doc_id).await?;
        let fields = change(&mut doc, matches!(grant, Grant::Own))?;
        if fields.is_empty() {
            return Ok(doc);
        }
        let mut batch = vec![Mutation::Put(Row::new(
            DOCUMENTS,
            owner,
            doc_id,
            json(&doc)?,
        ))];
        if fields.contains(&"expires_on") {
            batch.extend(self.expiry_index(&doc));
        }
        batch.extend(self.access.audit(
            owner,
            &grant,
            "vault.UpdateDocument",
            &format!("changed {}", fields.join(", ")),
            self.now(),
        ));
        self.commit(batch).await?;
        Ok(doc)
    }

    pub async fn delete(
        &self,
        principal: &Principal,
        owner: &str,
        doc_id: &str,
    ) -> Result<(), ServiceError> {
        let grant = self.authorize(principal, owner).await?;
        let doc = self.visible_document(&grant, owner, doc_id).await?;
        let mut batch = vec![Mutation::delete(DOCUMENTS, owner, doc_id)];
        batch.extend(self.access.audit(
            owner,
            &grant,
            "vault.DeleteDocument",
            doc.kind.as_str(),
            self.now(),
        ));
        self.commit(batch).await?;
        self.add_usage(owner, -(doc.size as i64), -1).await?;
        // After the row: a crash here leaves parts the clean-up pass removes.
        self.blobs.delete_prefix(owner, Some(doc_id)).await?;
        Ok(())
    }

    // ----- usage ----------------------------------------------------------------------------

    pub async fn usage(&self, owner: &str) -> Result<UsageCounter, ServiceError> {
        Ok(self
            .store
            .get(USAGE, owner, "")
            .await
            .map_err(unavailable)?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default())
    }

    pub async fn usage_for(
        &self,
        principal: &Principal,
        owner: &str,
    ) -> Result<UsageCounter, ServiceError> {
        self.authorize(principal, owner).await?;
        self.usage(owner).await
    }

    async fn add_usage(&self, owner: &str, bytes: i64, documents: i64) -> Result<(), ServiceError> {
        for _ in 0..32 {
            let raw = self
                .store
                .get(USAGE, owner, "")
                .await
                .map_err(unavailable)?;
            let current: UsageCounter = raw
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            let next = UsageCounter {
                bytes: current.bytes.saturating_add_signed(bytes),
                documents: current.documents.saturating_add_signed(documents),
            };
            let row = Row::new(USAGE, owner, "", json(&next)?);
            let written = match raw {
                Some(raw) => self.store.compare_and_set(row, &raw).await,
                None => self.store.put_if_absent(row).await,
            }
            .map_err(unavailable)?;
            if written {
                return Ok(());
            }
        }
        Err(ServiceError::Unavailable(
            "the vault is busy: try again".into(),
        ))
    }

    // ----- upload ---------------------------------------------------------------------------

    async fn upload_state(&self, upload_id: &str) -> Result<Option<UploadState>, ServiceError> {
        self.store
            .get(UPLOADS, upload_id, "")
            .await
            .map_err(unavailable)?
            .map(|b| serde_json::from_slice(&b).map_err(internal))
            .transpose()
    }

    /// Starts (or resumes) an upload.
    pub async fn begin_upload(
        &self,
        principal: &Principal,
        meta: UploadMeta,
    ) -> Result<Upload, ServiceError> {
        let grant = self.authorize(principal, &meta.owner_id).await?;
        if meta.private && !matches!(grant, Grant::Own) {
            return Err(ServiceError::PermissionDenied(
                "only the owner adds a private document".into(),
            ));
        }
        if uuid::Uuid::parse_str(&meta.upload_id).is_err() {
            return Err(invalid(format!(
                "upload_id `{}` is not accepted: expected a UUID the client makes up",
                meta.upload_id
            )));
        }
        if meta.size == 0 {
            return Err(invalid("size_bytes is 0: an empty file cannot be stored"));
        }
        if meta.size > self.limits.max_document_bytes {
            return Err(ServiceError::ResourceExhausted(format!(
                "this file has {} bytes: a document holds at most {} bytes ({} MB)",
                meta.size,
                self.limits.max_document_bytes,
                self.limits.max_document_bytes / 1_000_000
            )));
        }
        match self.upload_state(&meta.upload_id).await? {
            Some(state) => {
                if state.owner_id != meta.owner_id || state.size != meta.size {
                    return Err(invalid(format!(
                        "upload_id `{}` belongs to another file: use a new id for a new file",
                        meta.upload_id
                    )));
                }
                if state.completed {
                    let doc = self
                        .load(&state.owner_id, &state.document_id)
                        .await?
                        .ok_or_else(|| {
                            ServiceError::NotFound(format!(
                                "the document of upload `{}` was deleted since",
                                meta.upload_id
                            ))
                        })?;
                    return Ok(Upload::done(doc));
                }
                if meta.offset != state.received {
                    return Err(ServiceError::FailedPrecondition(format!(
                        "upload `{}` has {} bytes stored: send again from byte {} (offset {})",
                        meta.upload_id, state.received, state.received, state.received
                    )));
                }
                let key = self.upload_key(&state).await?;
                Ok(Upload::resume(self.clone(), grant, state, key))
            }
            None => {
                if meta.offset != 0 {
                    return Err(ServiceError::FailedPrecondition(format!(
                        "no upload `{}` has started: start at offset 0",
                        meta.upload_id
                    )));
                }
                let usage = self.usage(&meta.owner_id).await?;
                if usage.bytes.saturating_add(meta.size) > self.limits.quota_bytes {
                    return Err(ServiceError::ResourceExhausted(format!(
                        "this vault holds {} of its {} bytes: {} more do not fit; delete or mark obsolete documents first",
                        usage.bytes, self.limits.quota_bytes, meta.size
                    )));
                }
                let vault = self.vault_key(&meta.owner_id, true).await?;
                let key = DataKey::generate();
                let document_id = uuid::Uuid::new_v4().to_string();
                let state = UploadState {
                    upload_id: meta.upload_id.clone(),
                    owner_id: meta.owner_id.clone(),
                    wrapped_key: vault.wrap(&format!("doc-key:{document_id}"), &key.to_secret()),
                    document_id,
                    kind: meta.kind,
                    title: meta.title,
                    folder: meta.folder,
                    issued_on: meta.issued_on,
                    expires_on: meta.expires_on,
                    private: meta.private,
                    notes: meta.notes,
                    size: meta.size,
                    received: 0,
                    part_hashes: Vec::new(),
                    content_type: None,
                    started_at: self.now(),
                    created_by: principal
                        .actor
                        .clone()
                        .unwrap_or_else(|| principal.subject.clone()),
                    completed: false,
                };
                let claimed = self
                    .store
                    .put_if_absent(Row::new(UPLOADS, &state.upload_id, "", json(&state)?))
                    .await
                    .map_err(unavailable)?;
                if !claimed {
                    return Err(ServiceError::Aborted(format!(
                        "upload `{}` started twice at once: ask UploadStatus, then resume",
                        state.upload_id
                    )));
                }
                self.store
                    .put(Row::new(
                        OPEN_UPLOADS,
                        "open",
                        &state.upload_id,
                        json(&(
                            state.owner_id.as_str(),
                            state.document_id.as_str(),
                            state.started_at,
                        ))?,
                    ))
                    .await
                    .map_err(unavailable)?;
                Ok(Upload::resume(self.clone(), grant, state, key))
            }
        }
    }

    async fn upload_key(&self, state: &UploadState) -> Result<DataKey, ServiceError> {
        let vault = self.vault_key(&state.owner_id, false).await?;
        let secret = vault
            .unwrap(
                &format!("doc-key:{}", state.document_id),
                &state.wrapped_key,
            )
            .ok_or_else(|| damaged(&state.document_id, "its key does not open"))?;
        DataKey::from_secret(&secret)
            .ok_or_else(|| damaged(&state.document_id, "its key has the wrong length"))
    }

    /// Where an upload stands (its owner or their agent asks).
    pub async fn upload_status(
        &self,
        principal: &Principal,
        upload_id: &str,
    ) -> Result<(u64, u64, Option<Document>), ServiceError> {
        let state = self.upload_state(upload_id).await?.ok_or_else(|| {
            ServiceError::NotFound(format!("no upload `{upload_id}`: start it at offset 0"))
        })?;
        let grant = self.authorize(principal, &state.owner_id).await?;
        let doc = if state.completed {
            self.visible_document(&grant, &state.owner_id, &state.document_id)
                .await
                .ok()
        } else {
            None
        };
        Ok((state.received, state.size, doc))
    }

    // ----- download -------------------------------------------------------------------------

    pub async fn download(
        &self,
        principal: &Principal,
        owner: &str,
        doc_id: &str,
    ) -> Result<(Document, ByteStream), ServiceError> {
        let grant = self.authorize(principal, owner).await?;
        let doc = self.visible_document(&grant, owner, doc_id).await?;
        self.audit(owner, &grant, "vault.DownloadDocument", doc.kind.as_str())
            .await?;
        let stream = self.read(doc.clone()).await?;
        Ok((doc, stream))
    }

    /// Streams a document's plaintext. Each part is decrypted, authenticated and checked
    /// against its hash before any of its bytes go out.
    pub async fn read(&self, doc: Document) -> Result<ByteStream, ServiceError> {
        if crypto::content_hash(&doc.part_hashes) != doc.content_hash {
            return Err(damaged(
                &doc.id,
                "its part list does not match its content hash",
            ));
        }
        let key = Arc::new(self.data_key(&doc).await?);
        let (tx, rx) = mpsc::channel(16);
        let blobs = self.blobs.clone();
        let doc = Arc::new(doc);
        tokio::spawn(async move {
            let parts = doc.parts();
            // One part is fetched and opened ahead while the previous one is sent.
            let mut next = (parts > 0).then(|| {
                tokio::spawn(open_part(
                    blobs.clone(),
                    Arc::clone(&doc),
                    Arc::clone(&key),
                    0,
                ))
            });
            for index in 0..parts {
                let Some(current) = next.take() else { return };
                if index + 1 < parts {
                    next = Some(tokio::spawn(open_part(
                        blobs.clone(),
                        Arc::clone(&doc),
                        Arc::clone(&key),
                        index + 1,
                    )));
                }
                let plain = match current.await {
                    Ok(Ok(plain)) => plain,
                    Ok(Err(e)) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(internal(e))).await;
                        return;
                    }
                };
                for start in (0..plain.len()).step_by(STREAM_CHUNK) {
                    let end = (start + STREAM_CHUNK).min(plain.len());
                    if tx.send(Ok(plain.slice(start..end))).await.is_err() {
                        return; // the client went away
                    }
                }
            }
        });
        Ok(rx)
    }

    // ----- expiry ---------------------------------------------------------------------------

    /// The index row that finds a document on the day its reminder is due (today, when that
    /// day has already passed).
    fn expiry_index(&self, doc: &Document) -> Option<Mutation> {
        let expires = doc.expires_on?;
        let notice = expires - time::Duration::days(self.limits.expiry_notice_days);
        let day = notice.to_julian_day().max(self.today().to_julian_day());
        Some(Mutation::Put(Row::new(
            EXPIRY_INDEX,
            day.to_string(),
            format!("{}/{}", doc.owner_id, doc.id),
            Vec::new(),
        )))
    }

    /// Sends `DocumentExpiring` for documents whose reminder day has come, once each.
    pub async fn announce_expiring(&self) -> Result<usize, ServiceError> {
        let today = self.today().to_julian_day();
        let mut announced = 0;
        for day in (today - 7)..=today {
            let mut range = KeyRange::all();
            loop {
                let page = self
                    .store
                    .scan(EXPIRY_INDEX, &day.to_string(), &range, 500)
                    .await
                    .map_err(unavailable)?;
                for (ck, _) in &page.rows {
                    let Some((owner, doc_id)) = ck.split_once('/') else {
                        continue;
                    };
                    let Some(raw) = self
                        .store
                        .get(DOCUMENTS, owner, doc_id)
                        .await
                        .map_err(unavailable)?
                    else {
                        continue;
                    };
                    let mut doc: Document = serde_json::from_slice(&raw).map_err(internal)?;
                    let due = doc.expires_on.is_some_and(|e| {
                        (e - time::Duration::days(self.limits.expiry_notice_days)).to_julian_day()
                            <= today
                    });
                    if doc.expiry_announced || doc.obsolete || !due {
                        continue;
                    }
                    doc.expiry_announced = true;
                    let claimed = self
                        .store
                        .compare_and_set(Row::new(DOCUMENTS, owner, doc_id, json(&doc)?), &raw)
                        .await
                        .map_err(unavailable)?;
                    if !claimed {
                        continue;
                    }
                    self.commit(vec![event_mutation(
                        "passerelle.events.v1.DocumentExpiring",
                        owner,
                        &events::DocumentExpiring {
                            owner_id: owner.to_owned(),
                            document_id: doc.id.clone(),
                            document_type: doc.kind.as_str().to_owned(),
                            expires_on: crate::domain::format_date(doc.expires_on),
                            announced_at: Some(passerelle_proto::prost_types::Timestamp {
                                seconds: self.now(),
                                nanos: 0,
                            }),
                        },
                    )])
                    .await?;
                    announced += 1;
                }
                match page.next {
                    Some(next) => range = next,
                    None => break,
                }
            }
        }
        Ok(announced)
    }

    // ----- erasure --------------------------------------------------------------------------

    /// Destroys the vault key first (from then on nothing of the vault can be read, wherever
    /// copies lie), then the records and the bytes.
    pub async fn erase_vault(&self, owner: &str) -> Result<usize, ServiceError> {
        self.store
            .delete(VAULT_KEYS, owner, "")
            .await
            .map_err(unavailable)?;
        let documents = self.all_documents(owner).await?;
        let mut batch: Vec<Mutation> = documents
            .iter()
            .map(|d| Mutation::delete(DOCUMENTS, owner, &d.id))
            .collect();
        batch.push(Mutation::delete(USAGE, owner, ""));
        for table in [SHARES, SHARE_ACCESS] {
            let rows = self
                .store
                .scan_all(table, owner)
                .await
                .map_err(unavailable)?;
            for (ck, bytes) in &rows {
                if table == SHARES
                    && let Ok(share) = serde_json::from_slice::<ShareRecord>(bytes)
                {
                    batch.push(Mutation::delete(SHARE_CODES, &share.code_hash, ""));
                    batch.push(Mutation::delete(SHARE_CODES, &share.link_hash, ""));
                }
                batch.push(Mutation::delete(table, owner, ck));
            }
        }
        batch.push(event_mutation(
            "passerelle.events.v1.VaultErased",
            owner,
            &events::VaultErased {
                owner_id: owner.to_owned(),
                documents: documents.len() as i64,
            },
        ));
        self.commit(batch).await?;
        self.blobs.delete_prefix(owner, None).await?;
        tracing::info!(owner_id = %owner, documents = documents.len(), "vault erased (key destroyed)");
        Ok(documents.len())
    }

    // ----- clean-up -------------------------------------------------------------------------

    /// Removes uploads abandoned for longer than `older_than`, and any stored bytes that belong
    /// to no document and no upload in progress.
    pub async fn cleanup(&self, older_than: Duration) -> Result<Cleanup, ServiceError> {
        let cutoff = self.now() - i64::try_from(older_than.as_secs()).unwrap_or(i64::MAX);
        let mut report = Cleanup::default();
        let mut live_uploads = BTreeSet::new();
        let rows = self
            .store
            .scan_all(OPEN_UPLOADS, "open")
            .await
            .map_err(unavailable)?;
        for (upload_id, bytes) in &rows {
            let Ok((owner, doc, started)) = serde_json::from_slice::<(String, String, i64)>(bytes)
            else {
                continue;
            };
            let completed = self
                .upload_state(upload_id)
                .await?
                .is_none_or(|s| s.completed);
            if completed || started <= cutoff {
                if !completed {
                    self.blobs.delete_prefix(&owner, Some(&doc)).await?;
                    self.store
                        .delete(UPLOADS, upload_id, "")
                        .await
                        .map_err(unavailable)?;
                    report.abandoned_uploads += 1;
                }
                self.store
                    .delete(OPEN_UPLOADS, "open", upload_id)
                    .await
                    .map_err(unavailable)?;
            } else {
                live_uploads.insert((owner, doc));
            }
        }
        for (owner, doc) in self.blobs.documents().await? {
            if live_uploads.contains(&(owner.clone(), doc.clone())) {
                continue;
            }
            if self
                .store
                .get(DOCUMENTS, &owner, &doc)
                .await
                .map_err(unavailable)?
                .is_none()
            {
                self.blobs.delete_prefix(&owner, Some(&doc)).await?;
                report.orphan_documents += 1;
            }
        }
        if report != Cleanup::default() {
            tracing::info!(
                abandoned = report.abandoned_uploads,
                orphans = report.orphan_documents,
                "vault clean-up"
            );
        }
        Ok(report)
    }

    // ----- procedures -----------------------------------------------------------------------

    pub fn procedures(&self) -> &[Procedure] {
        &self.procedures
    }

    pub async fn checklist(
        &self,
        principal: &Principal,
        owner: &str,
        procedure_id: &str,
    ) -> Result<(Procedure, Vec<ChecklistLine>), ServiceError> {
        let procedure = self
            .procedures
            .iter()
            .find(|p| p.id == procedure_id)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = self.procedures.iter().map(|p| p.id.as_str()).collect();
                ServiceError::NotFound(format!(
                    "no procedure `{procedure_id}`: known are {}",
                    known.join(", ")
                ))
            })?;
        let grant = self.authorize(principal, owner).await?;
        let documents: Vec<Document> = self
            .all_documents(owner)
            .await?
            .into_iter()
            .filter(|d| Self::visible(&grant, d))
            .collect();
        let today = self.today();
        let lines = procedure
            .requirements
            .iter()
            .map(|r| {
                let (status, doc) = procedures::evaluate(r, &documents, today);
                ChecklistLine {
                    requirement: r.clone(),
                    status,
                    document_id: doc.map(|d| d.id.clone()),
                }
            })
            .collect();
        self.audit(owner, &grant, "vault.Checklist", procedure_id)
            .await?;
        Ok((procedure, lines))
    }

    // ----- sharing --------------------------------------------------------------------------

    pub async fn create_share(
        &self,
        principal: &Principal,
        owner: &str,
        document_ids: Vec<String>,
        valid_hours: i64,
        one_time: bool,
        recipient: String,
    ) -> Result<NewShare, ServiceError> {
        let grant = self.authorize(principal, owner).await?;
        if !(1..=168).contains(&valid_hours) {
            return Err(invalid(format!(
                "valid_hours {valid_hours} is out of range: expected 1 to 168 (a week)"
            )));
        }
        if document_ids.is_empty() {
            return Err(invalid(
                "no document to share: expected one or more document ids",
            ));
        }
        for id in &document_ids {
            self.visible_document(&grant, owner, id).await?;
        }
        let code = passerelle_access::codes::new_code();
        let link_token = passerelle_access::codes::new_link_token();
        let now = self.now();
        let record = ShareRecord {
            id: uuid::Uuid::now_v7().to_string(),
            owner_id: owner.to_owned(),
            document_ids: document_ids
                .into_iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            expires_at: now + valid_hours * 3600,
            one_time,
            revoked: false,
            recipient,
            downloaded: BTreeSet::new(),
            code_hash: passerelle_access::codes::hash(&code),
            link_hash: passerelle_access::codes::hash(&link_token),
            created_by: principal
                .actor
                .clone()
                .unwrap_or_else(|| principal.subject.clone()),
        };
        let ttl = Duration::from_secs((valid_hours * 3600) as u64);
        let pointer = json(&(owner, &record.id))?;
        let mut batch = vec![
            Mutation::Put(Row::new(SHARES, owner, &record.id, json(&record)?)),
            Mutation::Put(
                Row::new(SHARE_CODES, &record.code_hash, "", pointer.clone()).with_ttl(ttl),
            ),
            Mutation::Put(Row::new(SHARE_CODES, &record.link_hash, "", pointer).with_ttl(ttl)),
        ];
        batch.extend(self.access.audit(
            owner,
            &grant,
            "vault.CreateShare",
            &format!(
                "{} documents for {}",
                record.document_ids.len(),
                record.recipient
            ),
            now,
        ));
        self.commit(batch).await?;
        Ok(NewShare {
            record,
            code,
            link_token,
        })
    }

    async fn share(
        &self,
        owner: &str,
        share_id: &str,
    ) -> Result<(ShareRecord, Vec<u8>), ServiceError> {
        let raw = self
            .store
            .get(SHARES, owner, share_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("no share `{share_id}` in this vault"))
            })?;
        Ok((serde_json::from_slice(&raw).map_err(internal)?, raw))
    }

    pub async fn revoke_share(
        &self,
        principal: &Principal,
        owner: &str,
        share_id: &str,
    ) -> Result<ShareRecord, ServiceError> {
        let grant = self.authorize(principal, owner).await?;
        let (mut share, _) = self.share(owner, share_id).await?;
        share.revoked = true;
        let mut batch = vec![
            Mutation::Put(Row::new(SHARES, owner, share_id, json(&share)?)),
            Mutation::delete(SHARE_CODES, &share.code_hash, ""),
            Mutation::delete(SHARE_CODES, &share.link_hash, ""),
        ];
        batch.extend(
            self.access
                .audit(owner, &grant, "vault.RevokeShare", share_id, self.now()),
        );
        self.commit(batch).await?;
        Ok(share)
    }

    pub async fn list_shares(
        &self,
        principal: &Principal,
        owner: &str,
    ) -> Result<Vec<(ShareRecord, Vec<ShareAccess>)>, ServiceError> {
        self.authorize(principal, owner).await?;
        let mut shares = Vec::new();
        let page = self
            .store
            .scan(SHARES, owner, &KeyRange::all(), 1000)
            .await
            .map_err(unavailable)?;
        for (_, bytes) in &page.rows {
            shares.push((
                serde_json::from_slice::<ShareRecord>(bytes).map_err(internal)?,
                Vec::new(),
            ));
        }
        let rows = self
            .store
            .scan_all(SHARE_ACCESS, owner)
            .await
            .map_err(unavailable)?;
        for (_, bytes) in &rows {
            let access: ShareAccess = serde_json::from_slice(bytes).map_err(internal)?;
            if let Some((_, list)) = shares.iter_mut().find(|(s, _)| s.id == access.share_id) {
                list.push(access);
            }
        }
        Ok(shares)
    }

    /// The share a code opens, if it is live. Codes are guessed at the source's peril: failures
    /// are throttled like sign-ins.
    async fn by_code(
        &self,
        code: &str,
        source: &str,
    ) -> Result<(ShareRecord, Vec<u8>), ServiceError> {
        let now = self.now();
        let key = [ThrottleKey::Source(format!("share:{source}"))];
        self.throttle.guard(&key, now).await?;
        let refused = || {
            ServiceError::NotFound(
                "this code opens nothing: it is wrong, expired or revoked".into(),
            )
        };
        let pointer = self
            .store
            .get(SHARE_CODES, &passerelle_access::codes::hash(code), "")
            .await
            .map_err(unavailable)?;
        let Some(pointer) = pointer else {
            self.throttle.fail_all(&key, now).await?;
            return Err(refused());
        };
        let (owner, share_id): (String, String) =
            serde_json::from_slice(&pointer).map_err(internal)?;
        let (share, raw) = self.share(&owner, &share_id).await?;
        if share.revoked || now >= share.expires_at {
            return Err(refused());
        }
        Ok((share, raw))
    }

    async fn record_access(
        &self,
        share: &ShareRecord,
        document_id: &str,
        opened_by: &str,
        action: &str,
    ) -> Result<(), ServiceError> {
        let access = ShareAccess {
            share_id: share.id.clone(),
            at: self.now(),
            document_id: document_id.to_owned(),
            opened_by: opened_by.to_owned(),
            action: action.to_owned(),
        };
        self.store
            .put(Row::new(
                SHARE_ACCESS,
                &share.owner_id,
                uuid::Uuid::now_v7().to_string(),
                json(&access)?,
            ))
            .await
            .map_err(unavailable)
    }

    pub async fn open_share(
        &self,
        code: &str,
        opened_by: Option<&Principal>,
        source: &str,
    ) -> Result<(ShareRecord, Vec<Document>), ServiceError> {
        let (share, _) = self.by_code(code, source).await?;
        let mut docs = Vec::new();
        for id in &share.document_ids {
            if let Some(doc) = self.load(&share.owner_id, id).await? {
                docs.push(doc);
            }
        }
        let who = opened_by.map(|p| p.subject.clone()).unwrap_or_default();
        self.record_access(&share, "", &who, "open").await?;
        Ok((share, docs))
    }

    pub async fn download_shared(
        &self,
        code: &str,
        document_id: &str,
        opened_by: Option<&Principal>,
        source: &str,
    ) -> Result<(Document, ByteStream), ServiceError> {
        let (mut share, raw) = self.by_code(code, source).await?;
        if !share.document_ids.iter().any(|d| d == document_id) {
            return Err(ServiceError::NotFound(format!(
                "this code does not open document `{document_id}`"
            )));
        }
        if share.one_time {
            if share.downloaded.contains(document_id) {
                return Err(ServiceError::FailedPrecondition(
                    "this one-time code was used for this document already: ask the owner for a new one".into(),
                ));
            }
            share.downloaded.insert(document_id.to_owned());
            let claimed = self
                .store
                .compare_and_set(
                    Row::new(SHARES, &share.owner_id, &share.id, json(&share)?),
                    &raw,
                )
                .await
                .map_err(unavailable)?;
            if !claimed {
                return Err(ServiceError::Aborted(
                    "the code was used at the same moment: try again".into(),
                ));
            }
        }
        let doc = self
            .load(&share.owner_id, document_id)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("document `{document_id}` was deleted"))
            })?;
        let who = opened_by.map(|p| p.subject.clone()).unwrap_or_default();
        self.record_access(&share, document_id, &who, "download")
            .await?;
        let stream = self.read(doc.clone()).await?;
        Ok((doc, stream))
    }
}

/// Fetches part `index` of `doc`, authenticates and decrypts it, and checks its hash: the
/// plaintext comes back only if all of that holds.
async fn open_part(
    blobs: Blobs,
    doc: Arc<Document>,
    key: Arc<DataKey>,
    index: usize,
) -> Result<Bytes, ServiceError> {
    let sealed = blobs
        .get_part(&doc.owner_id, &doc.id, index)
        .await
        .map_err(|e| damaged(&doc.id, e))?;
    let parts = doc.parts();
    let opened = {
        let doc = Arc::clone(&doc);
        tokio::task::spawn_blocking(move || {
            let mut sealed = sealed;
            let mut plain = Vec::with_capacity(PART);
            crypto::open_part(
                &key,
                &doc.id,
                (index * CHUNKS_PER_PART) as u64,
                &mut sealed,
                index + 1 == parts,
                |c| plain.extend_from_slice(c),
            )
            .map_err(|e| e.to_string())?;
            if crypto::sha256_hex(&plain) != doc.part_hashes[index] {
                return Err(format!("part {index} does not match its hash"));
            }
            Ok(plain)
        })
        .await
        .map_err(internal)?
    };
    opened.map(Bytes::from).map_err(|what| {
        tracing::error!(document_id = %doc.id, part = index, what = %what, "damaged document");
        damaged(&doc.id, what)
    })
}

/// An upload in progress: bytes come in, 4 MiB parts go out sealed.
pub struct Upload {
    inner: Option<UploadInner>,
    done: Option<Document>,
}

struct UploadInner {
    vault: Vault,
    grant: Grant,
    state: UploadState,
    key: Arc<DataKey>,
    buffer: Vec<u8>,
    /// The part being sealed and stored while the next one fills (one at a time, so memory
    /// stays at two parts).
    in_flight: Option<tokio::task::JoinHandle<Result<(String, u64), ServiceError>>>,
    /// Bytes handed to parts not yet recorded as stored.
    queued: u64,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload").finish_non_exhaustive()
    }
}

impl Upload {
    fn done(doc: Document) -> Self {
        Self {
            inner: None,
            done: Some(doc),
        }
    }

    fn resume(vault: Vault, grant: Grant, state: UploadState, key: DataKey) -> Self {
        Self {
            inner: Some(UploadInner {
                vault,
                grant,
                state,
                key: Arc::new(key),
                buffer: Vec::with_capacity(PART + crypto::CHUNK),
                in_flight: None,
                queued: 0,
            }),
            done: None,
        }
    }

    /// Takes more bytes; full parts are sealed and stored as they fill.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ServiceError> {
        let Some(inner) = self.inner.as_mut() else {
            return Ok(()); // a replay of a finished upload: the bytes are already stored
        };
        let total =
            inner.state.received + inner.queued + inner.buffer.len() as u64 + bytes.len() as u64;
        if total > inner.state.size {
            return Err(invalid(format!(
                "more bytes than the {} declared in size_bytes: nothing of this stream is kept past byte {}",
                inner.state.size, inner.state.received
            )));
        }
        inner.buffer.extend_from_slice(bytes);
        inner.check_type().await?;
        // Keep the last part in the buffer until the end: it must be sealed as the last one.
        while inner.buffer.len() > PART {
            let rest = inner.buffer.split_off(PART);
            let part = std::mem::replace(&mut inner.buffer, rest);
            inner.store_part(part, false).await?;
        }
        Ok(())
    }

    /// Ends the upload: the last part is stored and the document appears, whole, or not at all.
    pub async fn finish(self) -> Result<Document, ServiceError> {
        if let Some(doc) = self.done {
            return Ok(doc);
        }
        let Some(mut inner) = self.inner else {
            return Err(internal("upload without state"));
        };
        let total = inner.state.received + inner.queued + inner.buffer.len() as u64;
        if total != inner.state.size {
            // What is stored is kept: record the part in flight, so the resume offset is right.
            inner.settle().await?;
            return Err(invalid(format!(
                "truncated: {total} of {} bytes arrived; {} are stored, send again from byte {} (nothing was made of the rest)",
                inner.state.size, inner.state.received, inner.state.received
            )));
        }
        inner.check_type_final()?;
        let last = std::mem::take(&mut inner.buffer);
        inner.store_part(last, true).await?;
        inner.settle().await?;
        inner.complete().await
    }
}

impl UploadInner {
    /// Sniffs the content type as soon as enough bytes are in.
    async fn check_type(&mut self) -> Result<(), ServiceError> {
        if self.state.content_type.is_none()
            && self.state.received == 0
            && self.buffer.len() >= SNIFF_BYTES
        {
            self.state.content_type = Some(sniff(&self.buffer)?.to_owned());
        }
        Ok(())
    }

    fn check_type_final(&mut self) -> Result<(), ServiceError> {
        if self.state.content_type.is_none() {
            self.state.content_type = Some(sniff(&self.buffer)?.to_owned());
        }
        Ok(())
    }

    /// Starts sealing and storing a part, after recording the one before it.
    async fn store_part(&mut self, plain: Vec<u8>, last: bool) -> Result<(), ServiceError> {
        let index = self.state.part_hashes.len() + usize::from(self.in_flight.is_some());
        let len = plain.len() as u64;
        let (key, blobs) = (Arc::clone(&self.key), self.vault.blobs.clone());
        let (owner, doc_id) = (self.state.owner_id.clone(), self.state.document_id.clone());
        let task = tokio::spawn(async move {
            let sealing_id = doc_id.clone();
            let (sealed, hash) = tokio::task::spawn_blocking(move || {
                let hash = crypto::sha256_hex(&plain);
                (
                    crypto::seal_part(
                        &key,
                        &sealing_id,
                        (index * CHUNKS_PER_PART) as u64,
                        &plain,
                        last,
                    ),
                    hash,
                )
            })
            .await
            .map_err(internal)?;
            blobs.put_part(&owner, &doc_id, index, sealed).await?;
            Ok((hash, len))
        });
        self.settle().await?;
        self.in_flight = Some(task);
        self.queued = len;
        Ok(())
    }

    /// Waits for the part in flight and records it durably: a broken stream resumes after it.
    async fn settle(&mut self) -> Result<(), ServiceError> {
        let Some(task) = self.in_flight.take() else {
            return Ok(());
        };
        self.queued = 0;
        let (hash, len) = task.await.map_err(internal)??;
        self.state.part_hashes.push(hash);
        self.state.received += len;
        if self.state.received < self.state.size {
            self.vault
                .store
                .put(Row::new(
                    UPLOADS,
                    &self.state.upload_id,
                    "",
                    json(&self.state)?,
                ))
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn complete(mut self) -> Result<Document, ServiceError> {
        let vault = &self.vault;
        let state = &mut self.state;
        let doc = Document {
            id: state.document_id.clone(),
            owner_id: state.owner_id.clone(),
            kind: state.kind,
            title: state.title.clone(),
            folder: state.folder.clone(),
            content_type: state.content_type.clone().unwrap_or_default(),
            size: state.size,
            content_hash: crypto::content_hash(&state.part_hashes),
            part_hashes: state.part_hashes.clone(),
            issued_on: state.issued_on,
            expires_on: state.expires_on,
            obsolete: false,
            private: state.private,
            notes: state.notes.clone(),
            created_at: vault.now(),
            created_by: state.created_by.clone(),
            wrapped_key: state.wrapped_key.clone(),
            expiry_announced: false,
        };
        state.completed = true;
        let mut batch = vec![
            Mutation::Put(Row::new(DOCUMENTS, &doc.owner_id, &doc.id, json(&doc)?)),
            Mutation::Put(
                Row::new(UPLOADS, &state.upload_id, "", json(&*state)?)
                    .with_ttl(Duration::from_secs(7 * 86_400)),
            ),
            Mutation::delete(OPEN_UPLOADS, "open", &state.upload_id),
            event_mutation(
                "passerelle.events.v1.DocumentAdded",
                &doc.owner_id,
                &events::DocumentAdded {
                    owner_id: doc.owner_id.clone(),
                    document_id: doc.id.clone(),
                    document_type: doc.kind.as_str().to_owned(),
                },
            ),
        ];
        batch.extend(vault.expiry_index(&doc));
        batch.extend(vault.access.audit(
            &doc.owner_id,
            &self.grant,
            "vault.Upload",
            doc.kind.as_str(),
            vault.now(),
        ));
        vault.commit(batch).await?;
        vault.add_usage(&doc.owner_id, doc.size as i64, 1).await?;
        tracing::info!(owner_id = %doc.owner_id, document_id = %doc.id, bytes = doc.size, "document stored");
        Ok(doc)
    }
}
