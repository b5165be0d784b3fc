//! The vault's operations and their rules. No gRPC here: [`crate::grpc`] adapts.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use passerelle_access::throttle::{Throttle, ThrottleKey};
use passerelle_access::{Access, Grant, Scope};
use passerelle_bus::outbox::Outbox;
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
/// Vaults erased with their account: partition = owner. Kept for good (a line per erased
/// person, no personal data), so no late request or restored copy brings a vault back.
const ERASED_VAULTS: &str = "erased_vaults";
/// What an abandoned upload's state becomes (for a week, so a late resume is told why).
const ABANDONED: &[u8] = b"abandoned";
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
    /// Uploads and downloads under way at once, in all (about 12 MiB of memory each).
    pub max_transfers: usize,
    /// Uploads and downloads under way at once for one person (or one address, for shares).
    pub max_transfers_per_caller: usize,
    /// Longest a transfer waits on the other side (the next chunk of an upload, the reader of
    /// a download) before it is ended.
    pub stream_idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_document_bytes: 50_000_000,
            quota_bytes: 500_000_000,
            expiry_notice_days: 30,
            max_transfers: 32,
            max_transfers_per_caller: 4,
            stream_idle: Duration::from_secs(30),
        }
    }
}

/// Altered or lost storage: said plainly (DATA_LOSS), because the client must act on it.
fn damaged(doc: &str, what: impl std::fmt::Display) -> ServiceError {
    ServiceError::DataLoss(format!(
        "document {doc} is damaged in storage ({what}): nothing more is sent; restore it from a backup or upload it again"
    ))
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, ServiceError> {
    serde_json::to_vec(value).map_err(ServiceError::internal)
}

/// Bounds on documents moving at once: each transfer holds up to three 4 MiB parts in memory
/// (one filling or sent, one sealed or opened ahead, the stream's buffer), so the count is the
/// memory bound. One caller may not take them all.
#[derive(Debug)]
pub struct Transfers {
    per_caller: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    total: Arc<tokio::sync::Semaphore>,
    max_per_caller: usize,
}

/// A transfer under way; it frees its place when dropped.
#[derive(Debug)]
pub struct TransferPermit {
    transfers: Arc<Transfers>,
    caller: String,
    _total: tokio::sync::OwnedSemaphorePermit,
}

impl Transfers {
    pub fn new(max: usize, max_per_caller: usize) -> Arc<Self> {
        Arc::new(Self {
            per_caller: std::sync::Mutex::new(std::collections::HashMap::new()),
            total: Arc::new(tokio::sync::Semaphore::new(max.max(1))),
            max_per_caller: max_per_caller.max(1),
        })
    }

    /// A place for `caller`'s transfer, or a refusal saying why, at once (never a queue).
    pub fn acquire(self: &Arc<Self>, caller: &str) -> Result<TransferPermit, ServiceError> {
        // A poisoned lock only means a panic elsewhere while counting: the counts are whole.
        let mut counts = self
            .per_caller
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mine = counts.entry(caller.to_owned()).or_insert(0);
        if *mine >= self.max_per_caller {
            return Err(ServiceError::ResourceExhausted(format!(
                "you already have {} documents moving at once: wait for one to finish",
                self.max_per_caller
            )));
        }
        let total = Arc::clone(&self.total).try_acquire_owned().map_err(|_| {
            ServiceError::Unavailable(
                "the vault is moving as many documents as it can at once: try again in a moment"
                    .into(),
            )
        })?;
        *mine += 1;
        Ok(TransferPermit {
            transfers: Arc::clone(self),
            caller: caller.to_owned(),
            _total: total,
        })
    }
}

impl Drop for TransferPermit {
    fn drop(&mut self) {
        let mut counts = self
            .transfers
            .per_caller
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.caller) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.caller);
            }
        }
    }
}

/// Who a transfer counts against: the person acting (the agent behind a delegated token).
fn transfer_caller(principal: &Principal) -> String {
    principal
        .actor
        .clone()
        .unwrap_or_else(|| principal.subject.clone())
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
    /// In memory only; stored sealed in `sealed_meta`, as for documents.
    #[serde(skip)]
    title: String,
    folder: String,
    issued_on: Option<Date>,
    expires_on: Option<Date>,
    private: bool,
    #[serde(skip)]
    notes: String,
    #[serde(default)]
    sealed_meta: Vec<u8>,
    size: u64,
    received: u64,
    part_hashes: Vec<String>,
    content_type: Option<String>,
    wrapped_key: Vec<u8>,
    started_at: i64,
    /// When a part was last stored: an upload is abandoned after a day without news, however
    /// long ago it began.
    #[serde(default)]
    touched_at: i64,
    created_by: String,
    /// Set once every byte is stored and the quota counted, before the document is recorded:
    /// a crash in between is finished by the next attempt, never cleaned up.
    #[serde(default)]
    completing: bool,
    #[serde(default)]
    quota_reserved: bool,
    /// Set when the document is stored: the same upload id returns it again.
    completed: bool,
}

impl UploadState {
    fn last_news(&self) -> i64 {
        self.touched_at.max(self.started_at)
    }
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
    /// The mandate an agent made this share under: the share ends when the mandate no longer
    /// covers documents (revoked, expired, scope withdrawn). `None` for the owner's own shares.
    #[serde(default)]
    pub mandate_id: Option<String>,
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
    outbox: Outbox,
    throttle: Throttle,
    limits: Limits,
    procedures: Arc<Vec<Procedure>>,
    transfers: Arc<Transfers>,
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
        outbox: Outbox,
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
            outbox,
            transfers: Transfers::new(limits.max_transfers, limits.max_transfers_per_caller),
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
        Ok(self.outbox.commit(mutations).await?)
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
            self.store.batch(vec![m]).await?;
        }
        Ok(())
    }

    // ----- keys -----------------------------------------------------------------------------

    /// The owner's vault key, made on first use.
    async fn vault_key(&self, owner: &str, create: bool) -> Result<WrappingKey, ServiceError> {
        let context = format!("vault-key:{owner}");
        if let Some(sealed) = self.store.get(VAULT_KEYS, owner, "").await? {
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
        if self.erased(owner).await? {
            return Err(ServiceError::FailedPrecondition(
                "this vault was erased with its account: it cannot be made again".into(),
            ));
        }
        let key = WrappingKey::generate()?;
        let sealed = self.master.seal(&context, key.as_bytes())?;
        if !self
            .store
            .put_if_absent(Row::new(VAULT_KEYS, owner, "", sealed))
            .await?
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

    /// Seals a document's title and notes with its vault's key (see [`Document::title`]).
    fn seal_meta(
        vault: &WrappingKey,
        doc_id: &str,
        title: &str,
        notes: &str,
    ) -> Result<Vec<u8>, ServiceError> {
        vault.wrap(&format!("doc-meta:{doc_id}"), &json(&(title, notes))?)
    }

    /// Opens what [`Self::seal_meta`] sealed.
    fn open_meta(
        vault: &WrappingKey,
        doc_id: &str,
        sealed: &[u8],
    ) -> Result<(String, String), ServiceError> {
        if sealed.is_empty() {
            return Ok((String::new(), String::new()));
        }
        let plain = vault
            .unwrap(&format!("doc-meta:{doc_id}"), sealed)
            .ok_or_else(|| damaged(doc_id, "its title does not open"))?;
        serde_json::from_slice(&plain).map_err(ServiceError::internal)
    }

    /// A stored document row, as it is (title and notes still sealed).
    fn decode(bytes: &[u8]) -> Result<Document, ServiceError> {
        serde_json::from_slice(bytes).map_err(ServiceError::internal)
    }

    /// Documents with their title and notes opened.
    async fn open_documents(
        &self,
        owner: &str,
        mut docs: Vec<Document>,
    ) -> Result<Vec<Document>, ServiceError> {
        if docs.is_empty() {
            return Ok(docs);
        }
        let vault = self.vault_key(owner, false).await?;
        for doc in &mut docs {
            (doc.title, doc.notes) = Self::open_meta(&vault, &doc.id, &doc.sealed_meta)?;
        }
        Ok(docs)
    }

    /// The row that stores `doc`: its title and notes sealed anew.
    async fn document_row(&self, doc: &Document) -> Result<Row, ServiceError> {
        let vault = self.vault_key(&doc.owner_id, false).await?;
        let mut stored = doc.clone();
        stored.sealed_meta = Self::seal_meta(&vault, &doc.id, &doc.title, &doc.notes)?;
        Ok(Row::new(DOCUMENTS, &doc.owner_id, &doc.id, json(&stored)?))
    }

    async fn load(&self, owner: &str, doc_id: &str) -> Result<Option<Document>, ServiceError> {
        let Some(bytes) = self.store.get(DOCUMENTS, owner, doc_id).await? else {
            return Ok(None);
        };
        Ok(self
            .open_documents(owner, vec![Self::decode(&bytes)?])
            .await?
            .pop())
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

    /// Every document row of a vault, sealed parts left sealed.
    async fn stored_documents(&self, owner: &str) -> Result<Vec<Document>, ServiceError> {
        self.store
            .scan_all(DOCUMENTS, owner)
            .await?
            .iter()
            .map(|(_, bytes)| Self::decode(bytes))
            .collect()
    }

    async fn all_documents(&self, owner: &str) -> Result<Vec<Document>, ServiceError> {
        let docs = self.stored_documents(owner).await?;
        self.open_documents(owner, docs).await
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
        let doc = self.visible_document(&grant, owner, doc_id).await?;
        // A read is an act on the person's papers like any other: in their trail.
        self.audit(owner, &grant, "vault.GetDocument", doc.kind.as_str())
            .await?;
        Ok(doc)
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
        let mut batch = vec![Mutation::Put(self.document_row(&doc).await?)];
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
        self.add_usage(owner, -(doc.size as i64), -1, None).await?;
        // After the row: a crash here leaves parts the clean-up pass removes.
        self.blobs.delete_prefix(owner, Some(doc_id)).await?;
        Ok(())
    }

    // ----- usage ----------------------------------------------------------------------------

    pub async fn usage(&self, owner: &str) -> Result<UsageCounter, ServiceError> {
        Ok(self
            .store
            .get(USAGE, owner, "")
            .await?
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

    async fn add_usage(
        &self,
        owner: &str,
        bytes: i64,
        documents: i64,
        quota: Option<u64>,
    ) -> Result<(), ServiceError> {
        for _ in 0..64 {
            let raw = self.store.get(USAGE, owner, "").await?;
            let current: UsageCounter = raw
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            let next = UsageCounter {
                bytes: current.bytes.saturating_add_signed(bytes),
                documents: current.documents.saturating_add_signed(documents),
            };
            if let Some(quota) = quota
                && bytes > 0
                && next.bytes > quota
            {
                return Err(ServiceError::ResourceExhausted(format!(
                    "this vault holds {} of its {quota} bytes: {bytes} more do not fit; delete or mark obsolete documents first",
                    current.bytes
                )));
            }
            let row = Row::new(USAGE, owner, "", json(&next)?);
            let written = match raw {
                Some(raw) => self.store.compare_and_set(row, &raw).await,
                None => self.store.put_if_absent(row).await,
            }?;
            if written {
                return Ok(());
            }
        }
        Err(ServiceError::Unavailable(
            "the vault is busy: try again".into(),
        ))
    }

    // ----- upload ---------------------------------------------------------------------------

    /// An upload's state and the stored bytes it was read from (every change is a
    /// compare-and-set against them, so a clean-up pass and a stream never both win).
    async fn upload_state(
        &self,
        upload_id: &str,
    ) -> Result<Option<(UploadState, Vec<u8>)>, ServiceError> {
        let Some(raw) = self.store.get(UPLOADS, upload_id, "").await? else {
            return Ok(None);
        };
        if raw == ABANDONED {
            return Err(ServiceError::FailedPrecondition(format!(
                "upload `{upload_id}` was abandoned after a day without news and its bytes removed: start again with a new upload id"
            )));
        }
        let state = serde_json::from_slice(&raw).map_err(ServiceError::internal)?;
        Ok(Some((state, raw)))
    }

    /// Whether `owner`'s vault was erased: an erased person's token, still valid for a few
    /// minutes, must not bring a vault back.
    async fn erased(&self, owner: &str) -> Result<bool, ServiceError> {
        Ok(self.store.get(ERASED_VAULTS, owner, "").await?.is_some())
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
            return Err(ServiceError::invalid(format!(
                "upload_id `{}` is not accepted: expected a UUID the client makes up",
                meta.upload_id
            )));
        }
        if meta.size == 0 {
            return Err(ServiceError::invalid(
                "size_bytes is 0: an empty file cannot be stored",
            ));
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
            Some((state, raw)) => {
                if state.owner_id != meta.owner_id || state.size != meta.size {
                    return Err(ServiceError::invalid(format!(
                        "upload_id `{}` belongs to another file: use a new id for a new file",
                        meta.upload_id
                    )));
                }
                if state.completed {
                    // The same answer as the first time — to whoever may see the document.
                    let doc = self
                        .visible_document(&grant, &state.owner_id, &state.document_id)
                        .await
                        .map_err(|_| {
                            ServiceError::NotFound(format!(
                                "no document for upload `{}`: it was deleted since, or is not yours to see",
                                meta.upload_id
                            ))
                        })?;
                    return Ok(Upload::done(doc));
                }
                let state = self.with_meta(state).await?;
                // Again on every resumption: the first stream may have failed between its
                // claim and this mark, and bytes must never be stored or recorded unmarked.
                self.mark_open(&state).await?;
                if state.completing {
                    // Every byte was stored and the quota counted; only the record was lost
                    // (a crash or a store error): write it now.
                    let permit = self.transfers.acquire(&transfer_caller(principal))?;
                    return Ok(Upload::finishing(self.clone(), grant, state, raw, permit));
                }
                if meta.offset != state.received {
                    return Err(ServiceError::FailedPrecondition(format!(
                        "upload `{}` has {} bytes stored: send again from byte {} (offset {})",
                        meta.upload_id, state.received, state.received, state.received
                    )));
                }
                let permit = self.transfers.acquire(&transfer_caller(principal))?;
                let key = self.upload_key(&state).await?;
                Ok(Upload::resume(self.clone(), grant, state, raw, key, permit))
            }
            None => {
                if meta.offset != 0 {
                    return Err(ServiceError::FailedPrecondition(format!(
                        "no upload `{}` has started: start at offset 0",
                        meta.upload_id
                    )));
                }
                if self.erased(&meta.owner_id).await? {
                    return Err(ServiceError::FailedPrecondition(
                        "this vault was erased with its account: nothing more can be added to it"
                            .into(),
                    ));
                }
                // A first look at the quota, to refuse at once what cannot fit; the bytes are
                // counted for good, atomically, when the upload completes.
                let usage = self.usage(&meta.owner_id).await?;
                if usage.bytes.saturating_add(meta.size) > self.limits.quota_bytes {
                    return Err(ServiceError::ResourceExhausted(format!(
                        "this vault holds {} of its {} bytes: {} more do not fit; delete or mark obsolete documents first",
                        usage.bytes, self.limits.quota_bytes, meta.size
                    )));
                }
                let permit = self.transfers.acquire(&transfer_caller(principal))?;
                let vault = self.vault_key(&meta.owner_id, true).await?;
                let key = DataKey::generate()?;
                let document_id = uuid::Uuid::new_v4().to_string();
                let now = self.now();
                let state = UploadState {
                    upload_id: meta.upload_id.clone(),
                    owner_id: meta.owner_id.clone(),
                    wrapped_key: vault.wrap(&format!("doc-key:{document_id}"), &key.to_secret())?,
                    sealed_meta: Self::seal_meta(&vault, &document_id, &meta.title, &meta.notes)?,
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
                    started_at: now,
                    touched_at: now,
                    created_by: transfer_caller(principal),
                    completing: false,
                    quota_reserved: false,
                    completed: false,
                };
                let raw = json(&state)?;
                let claimed = self
                    .store
                    .put_if_absent(Row::new(UPLOADS, &state.upload_id, "", raw.clone()))
                    .await?;
                if !claimed {
                    return Err(ServiceError::Aborted(format!(
                        "upload `{}` started twice at once: ask UploadStatus, then resume",
                        state.upload_id
                    )));
                }
                self.mark_open(&state).await?;
                Ok(Upload::resume(self.clone(), grant, state, raw, key, permit))
            }
        }
    }

    /// The upload's state with its title and notes opened (they are stored sealed).
    async fn with_meta(&self, mut state: UploadState) -> Result<UploadState, ServiceError> {
        if !state.sealed_meta.is_empty() {
            let vault = self.vault_key(&state.owner_id, false).await?;
            (state.title, state.notes) =
                Self::open_meta(&vault, &state.document_id, &state.sealed_meta)?;
        }
        Ok(state)
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
        let (state, _) = self.upload_state(upload_id).await?.ok_or_else(|| {
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
        let permit = self.transfers.acquire(&transfer_caller(principal))?;
        self.audit(owner, &grant, "vault.DownloadDocument", doc.kind.as_str())
            .await?;
        let stream = self.read(doc.clone(), permit).await?;
        Ok((doc, stream))
    }

    /// Streams a document's plaintext. Each part is decrypted, authenticated and checked
    /// against its hash before any of its bytes go out. A reader that takes nothing for the
    /// idle time ends the stream (its memory and its transfer place are given back).
    async fn read(
        &self,
        doc: Document,
        permit: TransferPermit,
    ) -> Result<ByteStream, ServiceError> {
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
        let idle = self.limits.stream_idle;
        tokio::spawn(async move {
            let _permit = permit;
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
                        let _ = tx.send(Err(ServiceError::internal(e))).await;
                        return;
                    }
                };
                for start in (0..plain.len()).step_by(STREAM_CHUNK) {
                    let end = (start + STREAM_CHUNK).min(plain.len());
                    match tx.send_timeout(Ok(plain.slice(start..end)), idle).await {
                        Ok(()) => {}
                        Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                            tracing::info!(document_id = %doc.id, "download stalled: ended");
                            return;
                        }
                        Err(mpsc::error::SendTimeoutError::Closed(_)) => return, // went away
                    }
                }
            }
        });
        Ok(rx)
    }

    // ----- expiry ---------------------------------------------------------------------------

    /// The index row that finds a document on the day its reminder is due (today, when that
    /// day has already passed).
    /// It lives until a week past its day (the announcer looks back a week), then goes.
    fn expiry_index(&self, doc: &Document) -> Option<Mutation> {
        let (day, key) = self.expiry_slot(doc)?;
        let today = self.today().to_julian_day();
        let keep_days = i64::from(day - today).max(0) + 8;
        Some(Mutation::Put(
            Row::new(EXPIRY_INDEX, day.to_string(), key, Vec::new())
                .with_ttl(Duration::from_secs((keep_days * 86_400) as u64)),
        ))
    }

    /// Where a document's expiry index row is: its day and key.
    fn expiry_slot(&self, doc: &Document) -> Option<(i32, String)> {
        let expires = doc.expires_on?;
        let day = self.notice_day(expires).max(self.today().to_julian_day());
        Some((day, format!("{}/{}", doc.owner_id, doc.id)))
    }

    /// The day (Julian) the reminder of a document expiring on `expires` is due. In days, not
    /// dates, so no setting or stored date can overflow.
    fn notice_day(&self, expires: Date) -> i32 {
        let days = i32::try_from(self.limits.expiry_notice_days).unwrap_or(i32::MAX);
        expires.to_julian_day().saturating_sub(days)
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
                    .await?;
                for (ck, _) in &page.rows {
                    let Some((owner, doc_id)) = ck.split_once('/') else {
                        continue;
                    };
                    let Some(raw) = self.store.get(DOCUMENTS, owner, doc_id).await? else {
                        continue;
                    };
                    let mut doc = Self::decode(&raw)?;
                    let due = doc.expires_on.is_some_and(|e| self.notice_day(e) <= today);
                    if doc.expiry_announced || doc.obsolete || !due {
                        continue;
                    }
                    doc.expiry_announced = true;
                    let claimed = self
                        .store
                        .compare_and_set(Row::new(DOCUMENTS, owner, doc_id, json(&doc)?), &raw)
                        .await?;
                    if !claimed {
                        continue;
                    }
                    self.commit(vec![self.outbox.event(
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
        // The mark and the key's end in one batch: from here no request (a token still valid
        // for a few minutes) can make the vault a new key.
        self.store
            .batch(vec![
                Mutation::Put(Row::new(ERASED_VAULTS, owner, "", Vec::new())),
                Mutation::delete(VAULT_KEYS, owner, ""),
            ])
            .await?;
        let documents = self.stored_documents(owner).await?;
        let mut batch: Vec<Mutation> = documents
            .iter()
            .map(|d| Mutation::delete(DOCUMENTS, owner, &d.id))
            .collect();
        // The expiry index names the owner too (its day may have moved since: a missed row
        // still goes by itself a week after its day).
        batch.extend(documents.iter().filter_map(|d| {
            self.expiry_slot(d)
                .map(|(day, key)| Mutation::delete(EXPIRY_INDEX, day.to_string(), key))
        }));
        // Uploads in progress go too.
        for (upload_id, bytes) in self.store.scan_all(OPEN_UPLOADS, "open").await? {
            if serde_json::from_slice::<(String, String, i64)>(&bytes)
                .is_ok_and(|(o, _, _)| o == owner)
            {
                batch.push(Mutation::delete(UPLOADS, &upload_id, ""));
                batch.push(Mutation::delete(OPEN_UPLOADS, "open", &upload_id));
            }
        }
        batch.push(Mutation::delete(USAGE, owner, ""));
        for table in [SHARES, SHARE_ACCESS] {
            let rows = self.store.scan_all(table, owner).await?;
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
        batch.push(self.outbox.event(
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

    /// Removes uploads untouched for longer than `older_than`, and any stored bytes that
    /// belong to no document and no upload in progress.
    ///
    /// Safe while uploads run: the stored documents are listed *before* the open uploads are
    /// read, and an upload's open row is written before its first byte, so every listed byte
    /// belongs to an upload seen open, or completed (its document row then exists), or
    /// abandoned here. An upload is abandoned by compare-and-set on its state: if its stream
    /// moved on meanwhile, the pass leaves it alone; if the pass won, the stream's next write
    /// fails, so no document is ever recorded without its bytes.
    /// Marks an upload open before any of its bytes is stored or recorded: the clean-up pass
    /// never takes the bytes of a marked upload for an orphan (see `cleanup`). Idempotent.
    async fn mark_open(&self, state: &UploadState) -> Result<(), ServiceError> {
        let marker = json(&(
            state.owner_id.as_str(),
            state.document_id.as_str(),
            state.started_at,
        ))?;
        self.store
            .put(Row::new(OPEN_UPLOADS, "open", &state.upload_id, marker))
            .await
            .map_err(ServiceError::from)
    }

    pub async fn cleanup(&self, older_than: Duration) -> Result<Cleanup, ServiceError> {
        let cutoff = self.now() - i64::try_from(older_than.as_secs()).unwrap_or(i64::MAX);
        let mut report = Cleanup::default();
        let stored = self.blobs.documents().await?;
        let mut live_uploads = BTreeSet::new();
        let rows = self.store.scan_all(OPEN_UPLOADS, "open").await?;
        for (upload_id, bytes) in &rows {
            let Ok((owner, doc, _)) = serde_json::from_slice::<(String, String, i64)>(bytes) else {
                continue;
            };
            let state = match self.upload_state(upload_id).await {
                Ok(state) => state,
                Err(ServiceError::FailedPrecondition(_)) => None, // abandoned already
                Err(e) => return Err(e),
            };
            match state {
                Some((state, _)) if state.completed => {}
                Some((state, _)) if state.last_news() > cutoff => {
                    live_uploads.insert((owner, doc));
                    continue;
                }
                // Stored whole but never recorded (the process stopped in between) and not
                // replayed since: abandoned like the others, its counted room given back.
                Some((state, raw)) => {
                    let abandoned = Row::new(UPLOADS, upload_id, "", ABANDONED.to_vec())
                        .with_ttl(Duration::from_secs(7 * 86_400));
                    if !self.store.compare_and_set(abandoned, &raw).await? {
                        // Its stream wrote meanwhile: it is alive.
                        live_uploads.insert((owner, doc));
                        continue;
                    }
                    if state.quota_reserved {
                        self.add_usage(&owner, -(state.size as i64), -1, None)
                            .await?;
                    }
                    self.blobs.delete_prefix(&owner, Some(&doc)).await?;
                    report.abandoned_uploads += 1;
                }
                None => {}
            }
            self.store.delete(OPEN_UPLOADS, "open", upload_id).await?;
        }
        for (owner, doc) in stored {
            if live_uploads.contains(&(owner.clone(), doc.clone())) {
                continue;
            }
            if self.store.get(DOCUMENTS, &owner, &doc).await?.is_none() {
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
            return Err(ServiceError::invalid(format!(
                "valid_hours {valid_hours} is out of range: expected 1 to 168 (a week)"
            )));
        }
        if document_ids.is_empty() {
            return Err(ServiceError::invalid(
                "no document to share: expected one or more document ids",
            ));
        }
        for id in &document_ids {
            self.visible_document(&grant, owner, id).await?;
        }
        let code = passerelle_access::codes::new_code()?;
        let link_token = passerelle_access::codes::new_link_token()?;
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
            mandate_id: match &grant {
                Grant::Own => None,
                Grant::Mandate { mandate_id, .. } => Some(mandate_id.clone()),
            },
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
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("no share `{share_id}` in this vault"))
            })?;
        Ok((
            serde_json::from_slice(&raw).map_err(ServiceError::internal)?,
            raw,
        ))
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
        let grant = self.authorize(principal, owner).await?;
        let mut shares = Vec::new();
        let page = self
            .store
            .scan(SHARES, owner, &KeyRange::all(), 1000)
            .await?;
        for (_, bytes) in &page.rows {
            shares.push((
                serde_json::from_slice::<ShareRecord>(bytes).map_err(ServiceError::internal)?,
                Vec::new(),
            ));
        }
        let rows = self.store.scan_all(SHARE_ACCESS, owner).await?;
        for (_, bytes) in &rows {
            let access: ShareAccess =
                serde_json::from_slice(bytes).map_err(ServiceError::internal)?;
            if let Some((_, list)) = shares.iter_mut().find(|(s, _)| s.id == access.share_id) {
                list.push(access);
            }
        }
        self.audit(
            owner,
            &grant,
            "vault.ListShares",
            &format!("{} shares", shares.len()),
        )
        .await?;
        Ok(shares)
    }

    /// The share a code opens, if it is live. Codes are guessed at the source's peril: every
    /// try counts against the source until it turns out to be a real code, like sign-ins.
    async fn by_code(
        &self,
        code: &str,
        source: &str,
    ) -> Result<(ShareRecord, Vec<u8>), ServiceError> {
        let now = self.now();
        let key = [ThrottleKey::Source(format!("share:{source}"))];
        let attempt = self.throttle.attempt(&key, now).await?;
        let refused = || {
            ServiceError::NotFound(
                "this code opens nothing: it is wrong, expired or revoked".into(),
            )
        };
        let pointer = self
            .store
            .get(SHARE_CODES, &passerelle_access::codes::hash(code), "")
            .await?;
        let Some(pointer) = pointer else {
            return Err(refused()); // a guess: it stays counted
        };
        // A real code, even of an ended share, is no guess.
        self.throttle.succeeded(attempt, now).await?;
        let (owner, share_id): (String, String) =
            serde_json::from_slice(&pointer).map_err(ServiceError::internal)?;
        let (share, raw) = self.share(&owner, &share_id).await?;
        if share.revoked || now >= share.expires_at || !self.mandate_still_allows(&share).await? {
            return Err(refused());
        }
        Ok((share, raw))
    }

    /// A share an agent made lives only as long as the mandate that allowed it covers
    /// documents; the owner's own shares depend on no mandate.
    async fn mandate_still_allows(&self, share: &ShareRecord) -> Result<bool, ServiceError> {
        match &share.mandate_id {
            Some(mandate_id) => Ok(self
                .access
                .mandate(&share.owner_id, mandate_id)
                .await?
                .is_some_and(|m| m.holds(Scope::Documents, self.now()))),
            // Made by someone other than the owner with no mandate recorded: refuse.
            None => Ok(share.created_by == share.owner_id),
        }
    }

    /// What a share still opens: an agent's share never reaches a document the owner has
    /// made private since.
    fn share_reaches(share: &ShareRecord, doc: &Document) -> bool {
        share.mandate_id.is_none() || !doc.private
    }

    /// Ends every share made under `mandate_id` (on `MandateRevoked` covering documents, or
    /// `MandateExpired`). Returns how many ended.
    pub async fn end_shares_of_mandate(
        &self,
        owner: &str,
        mandate_id: &str,
    ) -> Result<usize, ServiceError> {
        let rows = self.store.scan_all(SHARES, owner).await?;
        let mut batch = Vec::new();
        for (share_id, bytes) in &rows {
            let mut share: ShareRecord =
                serde_json::from_slice(bytes).map_err(ServiceError::internal)?;
            if share.revoked || share.mandate_id.as_deref() != Some(mandate_id) {
                continue;
            }
            share.revoked = true;
            batch.push(Mutation::Put(Row::new(
                SHARES,
                owner,
                share_id,
                json(&share)?,
            )));
            batch.push(Mutation::delete(SHARE_CODES, &share.code_hash, ""));
            batch.push(Mutation::delete(SHARE_CODES, &share.link_hash, ""));
        }
        let ended = batch.len() / 3;
        if ended > 0 {
            self.commit(batch).await?;
            tracing::info!(owner_id = %owner, mandate_id, shares = ended, "shares ended with their mandate");
        }
        Ok(ended)
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
            .map_err(ServiceError::from)
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
            if let Some(doc) = self.load(&share.owner_id, id).await?
                && Self::share_reaches(&share, &doc)
            {
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
        let caller = opened_by.map_or_else(|| format!("share:{source}"), transfer_caller);
        let permit = self.transfers.acquire(&caller)?;
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
                .await?;
            if !claimed {
                return Err(ServiceError::Aborted(
                    "the code was used at the same moment: try again".into(),
                ));
            }
        }
        let doc = self
            .load(&share.owner_id, document_id)
            .await?
            .filter(|doc| Self::share_reaches(&share, doc))
            .ok_or_else(|| {
                ServiceError::NotFound(format!("document `{document_id}` was deleted"))
            })?;
        let who = opened_by.map(|p| p.subject.clone()).unwrap_or_default();
        self.record_access(&share, document_id, &who, "download")
            .await?;
        let stream = self.read(doc.clone(), permit).await?;
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
        .map_err(ServiceError::internal)?
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
    /// The state as last stored: every write is a compare-and-set against it.
    stored: Vec<u8>,
    key: Option<Arc<DataKey>>,
    buffer: Vec<u8>,
    /// The part being sealed and stored while the next one fills (one at a time, so memory
    /// stays at two parts).
    in_flight: Option<tokio::task::JoinHandle<Result<(String, u64), ServiceError>>>,
    /// Bytes handed to parts not yet recorded as stored.
    queued: u64,
    _permit: TransferPermit,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload").finish_non_exhaustive()
    }
}

/// The answer when an upload's stored state changed under its stream.
fn upload_moved(upload_id: &str) -> ServiceError {
    ServiceError::Aborted(format!(
        "upload `{upload_id}` changed while this stream was sending (abandoned after a long pause, or sent twice at once): ask UploadStatus, then resume or start again"
    ))
}

impl Upload {
    fn done(doc: Document) -> Self {
        Self {
            inner: None,
            done: Some(doc),
        }
    }

    fn resume(
        vault: Vault,
        grant: Grant,
        state: UploadState,
        stored: Vec<u8>,
        key: DataKey,
        permit: TransferPermit,
    ) -> Self {
        Self {
            inner: Some(UploadInner {
                vault,
                grant,
                state,
                stored,
                key: Some(Arc::new(key)),
                buffer: Vec::with_capacity(PART + crypto::CHUNK),
                in_flight: None,
                queued: 0,
                _permit: permit,
            }),
            done: None,
        }
    }

    /// An upload whose bytes are all stored, only its record missing.
    fn finishing(
        vault: Vault,
        grant: Grant,
        state: UploadState,
        stored: Vec<u8>,
        permit: TransferPermit,
    ) -> Self {
        Self {
            inner: Some(UploadInner {
                vault,
                grant,
                state,
                stored,
                key: None,
                buffer: Vec::new(),
                in_flight: None,
                queued: 0,
                _permit: permit,
            }),
            done: None,
        }
    }

    /// Takes more bytes; full parts are sealed and stored as they fill.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ServiceError> {
        let Some(inner) = self.inner.as_mut().filter(|i| !i.state.completing) else {
            return Ok(()); // a replay of a finished upload: the bytes are already stored
        };
        let total =
            inner.state.received + inner.queued + inner.buffer.len() as u64 + bytes.len() as u64;
        if total > inner.state.size {
            return Err(ServiceError::invalid(format!(
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
            return Err(ServiceError::internal("upload without state"));
        };
        if inner.state.completing {
            // Claimed back from the clean-up pass first (compare-and-set), then recorded.
            inner.state.touched_at = inner.vault.now();
            inner.save(None).await?;
            return inner.record().await;
        }
        let total = inner.state.received + inner.queued + inner.buffer.len() as u64;
        if total != inner.state.size {
            // What is stored is kept: record the part in flight, so the resume offset is right.
            inner.settle().await?;
            return Err(ServiceError::invalid(format!(
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

    /// Writes the state if it is still what this stream last stored.
    async fn save(&mut self, ttl: Option<Duration>) -> Result<(), ServiceError> {
        let next = json(&self.state)?;
        let mut row = Row::new(UPLOADS, &self.state.upload_id, "", next.clone());
        if let Some(ttl) = ttl {
            row = row.with_ttl(ttl);
        }
        if !self.vault.store.compare_and_set(row, &self.stored).await? {
            return Err(upload_moved(&self.state.upload_id));
        }
        self.stored = next;
        Ok(())
    }

    /// Starts sealing and storing a part, after recording the one before it.
    async fn store_part(&mut self, plain: Vec<u8>, last: bool) -> Result<(), ServiceError> {
        let index = self.state.part_hashes.len() + usize::from(self.in_flight.is_some());
        let len = plain.len() as u64;
        let key = self.key.clone().ok_or_else(|| {
            ServiceError::internal("an upload being recorded takes no more bytes")
        })?;
        let blobs = self.vault.blobs.clone();
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
            .map_err(ServiceError::internal)?;
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
        let (hash, len) = task.await.map_err(ServiceError::internal)??;
        self.state.part_hashes.push(hash);
        self.state.received += len;
        self.state.touched_at = self.vault.now();
        if self.state.received < self.state.size {
            self.save(None).await?;
        }
        Ok(())
    }

    /// Every byte is stored: count the quota, mark the upload completing (from then on the
    /// clean-up pass leaves it alone), then record the document.
    async fn complete(mut self) -> Result<Document, ServiceError> {
        let vault = self.vault.clone();
        let owner = self.state.owner_id.clone();
        if vault.erased(&owner).await? {
            return Err(ServiceError::FailedPrecondition(
                "this vault was erased with its account while the upload ran: nothing was kept"
                    .into(),
            ));
        }
        let size = self.state.size as i64;
        vault
            .add_usage(&owner, size, 1, Some(vault.limits.quota_bytes))
            .await?;
        self.state.quota_reserved = true;
        self.state.completing = true;
        if let Err(e) = self.save(None).await {
            // Not ours any more: give the quota back.
            vault.add_usage(&owner, -size, -1, None).await?;
            return Err(e);
        }
        self.record().await
    }

    /// Writes the document, its event, index and audit line, and the completed upload, in one
    /// batch.
    async fn record(mut self) -> Result<Document, ServiceError> {
        let vault = self.vault.clone();
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
            sealed_meta: state.sealed_meta.clone(),
            created_at: vault.now(),
            created_by: state.created_by.clone(),
            wrapped_key: state.wrapped_key.clone(),
            expiry_announced: false,
        };
        // What the completed upload keeps for a week is what a replay needs: the document's
        // id, not its title, notes or key.
        let completed = UploadState {
            completed: true,
            title: String::new(),
            notes: String::new(),
            sealed_meta: Vec::new(),
            folder: String::new(),
            wrapped_key: Vec::new(),
            part_hashes: Vec::new(),
            ..state.clone()
        };
        let mut batch = vec![
            Mutation::Put(Row::new(DOCUMENTS, &doc.owner_id, &doc.id, json(&doc)?)),
            Mutation::Put(
                Row::new(UPLOADS, &state.upload_id, "", json(&completed)?)
                    .with_ttl(Duration::from_secs(7 * 86_400)),
            ),
            Mutation::delete(OPEN_UPLOADS, "open", &state.upload_id),
            self.vault.outbox.event(
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
        tracing::info!(owner_id = %doc.owner_id, document_id = %doc.id, bytes = doc.size, "document stored");
        Ok(doc)
    }
}
