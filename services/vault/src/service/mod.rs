//! The vault's operations and their rules. No gRPC here: [`crate::grpc`] adapts.
//!
//! # Layout
//! - this file: the [`Vault`] handle, its tables, access checks and audit;
//! - [`keys`]: vault and document keys;
//! - [`documents`]: documents, their sealed metadata, the room each vault uses;
//! - [`upload`] / [`download`]: the streams, part by part;
//! - [`sharing`]: share codes, ended with their mandate;
//! - [`expiry`]: reminders before papers expire;
//! - [`erasure`]: erasing a vault, cleaning abandoned uploads and orphan bytes;
//! - [`checklist`]: what a procedure needs;
//! - [`transfers`]: how many documents move at once.

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
use passerelle_store::{DynStore, KeyRange, Mutation, Row, Table, Updated};
use serde::{Deserialize, Serialize};
use time::Date;
use tokio::sync::mpsc;

use crate::blobs::Blobs;
use crate::crypto::{self, CHUNKS_PER_PART, DataKey, PART, WrappingKey};
use crate::domain::{Document, DocumentType, sniff};
use crate::procedures::{self, Procedure, Status};

mod checklist;
mod documents;
mod download;
mod erasure;
mod expiry;
mod keys;
mod sharing;
mod transfers;
mod upload;

pub use checklist::ChecklistLine;
pub use documents::UsageCounter;
pub use erasure::Cleanup;
pub use sharing::{NewShare, ShareAccess, ShareRecord};
use transfers::transfer_caller;
pub use transfers::{TransferPermit, Transfers};
pub use upload::{Upload, UploadMeta};
use upload::{UploadRow, UploadState, older_as_abandoned};

pub const PRODUCER: &str = "vault";
const VAULT_KEYS: &str = "vault_keys";
const DOCUMENTS: &str = "documents";
/// Documents, their title and notes sealed: partition = owner, clustering = document id.
const DOCUMENT_ROWS: Table<Document> = Table::new(DOCUMENTS);
const UPLOADS: &str = "uploads";
/// Uploads between streams, then completed or abandoned (see [`UploadRow`]): partition =
/// upload id, no clustering key.
const UPLOAD_ROWS: Table<UploadRow> = Table::new(UPLOADS);
const OPEN_UPLOADS: &str = "open_uploads";
/// Uploads under way, for the clean-up pass: partition = `"open"`, clustering = upload id; the
/// value is (owner, document id, started at).
const OPEN_UPLOAD_ROWS: Table<(String, String, i64)> = Table::new(OPEN_UPLOADS);
const USAGE: &str = "vault_usage";
/// Room used per vault: partition = owner.
const USAGE_COUNTERS: Table<UsageCounter> = Table::new(USAGE);
const SHARES: &str = "shares";
/// Shares: partition = owner, clustering = share id.
const SHARE_ROWS: Table<ShareRecord> = Table::new(SHARES);
const SHARE_CODES: &str = "share_codes";
/// The share a code or link opens: partition = the code's (or link's) hash, no clustering key;
/// the value is (owner, share id). Each row lives as long as its share is valid.
const SHARE_POINTERS: Table<(String, String)> = Table::new(SHARE_CODES);
const SHARE_ACCESS: &str = "share_access";
/// Accesses through shares: partition = owner, clustering = a time-ordered access id.
const SHARE_ACCESS_ROWS: Table<ShareAccess> = Table::new(SHARE_ACCESS);
const EXPIRY_INDEX: &str = "document_expiry";
/// Vaults erased with their account: partition = owner. Kept for good (a line per erased
/// person, no personal data), so no late request or restored copy brings a vault back.
const ERASED_VAULTS: &str = "erased_vaults";
/// How long a completed or abandoned upload's row stays (a replay gets its document back, a
/// late resume is told why it cannot go on).
const ENDED_UPLOAD_TTL: Duration = Duration::from_secs(7 * 86_400);
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
}
