//! Uploads: a state machine kept in the store between streams (resumable, idempotent by
//! upload id), parts sealed and stored as they fill, the document recorded once every byte is.

use super::*;

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct UploadState {
    pub(super) upload_id: String,
    pub(super) owner_id: String,
    pub(super) document_id: String,
    pub(super) kind: DocumentType,
    /// In memory only; stored sealed in `sealed_meta`, as for documents.
    #[serde(skip)]
    pub(super) title: String,
    pub(super) folder: String,
    pub(super) issued_on: Option<Date>,
    pub(super) expires_on: Option<Date>,
    pub(super) private: bool,
    #[serde(skip)]
    pub(super) notes: String,
    #[serde(default)]
    pub(super) sealed_meta: Vec<u8>,
    pub(super) size: u64,
    pub(super) received: u64,
    pub(super) part_hashes: Vec<String>,
    pub(super) content_type: Option<String>,
    pub(super) wrapped_key: Vec<u8>,
    pub(super) started_at: i64,
    /// When a part was last stored: an upload is abandoned after a day without news, however
    /// long ago it began.
    #[serde(default)]
    pub(super) touched_at: i64,
    pub(super) created_by: String,
    /// Set once every byte is stored and the quota counted, before the document is recorded:
    /// a crash in between is finished by the next attempt, never cleaned up.
    #[serde(default)]
    pub(super) completing: bool,
    #[serde(default)]
    pub(super) quota_reserved: bool,
    /// Set when the document is stored: the same upload id returns it again.
    pub(super) completed: bool,
}

impl UploadState {
    pub(super) fn last_news(&self) -> i64 {
        self.touched_at.max(self.started_at)
    }

    /// The state as it reads back from the store: title and notes blank (they are stored
    /// sealed, in `sealed_meta`).
    pub(super) fn as_stored(&self) -> Self {
        Self {
            title: String::new(),
            notes: String::new(),
            ..self.clone()
        }
    }
}

/// What an upload's row holds: its state while it runs, is recorded and for a week once
/// completed (a bare JSON object, as before rows were typed, so uploads under way across the
/// change go on); or, for a week after the clean-up pass abandoned it, the JSON string
/// `"abandoned"`, so a late resume is told why.
// Held one at a time, as it is read or written: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) enum UploadRow {
    #[serde(rename = "abandoned")]
    Abandoned,
    #[serde(untagged)]
    Open(UploadState),
}

/// An upload row that does not read as an [`UploadRow`] reads as abandoned — the equivalent
/// state, never an internal error: that is the older format of the mark (the bare bytes
/// `abandoned`, not JSON), or damage, and either way the upload is over (its client starts
/// again with a new upload id). `abandoned` is what that means to the caller.
pub(super) fn older_as_abandoned<T>(
    read: Result<T, passerelle_store::Error>,
    abandoned: T,
) -> Result<T, ServiceError> {
    match read {
        Err(passerelle_store::Error::Corrupt { .. }) => Ok(abandoned),
        other => Ok(other?),
    }
}

/// An upload in progress: bytes come in, 4 MiB parts go out sealed.
pub struct Upload {
    pub(super) inner: Option<UploadInner>,
    pub(super) done: Option<Document>,
}

pub(super) struct UploadInner {
    pub(super) vault: Vault,
    pub(super) grant: Grant,
    pub(super) state: UploadState,
    /// The state as this stream last stored or read it (see [`UploadState::as_stored`]): a
    /// write goes through only if the row still holds it.
    pub(super) stored: UploadState,
    pub(super) key: Option<Arc<DataKey>>,
    pub(super) buffer: Vec<u8>,
    /// The part being sealed and stored while the next one fills (one at a time, so memory
    /// stays at two parts).
    pub(super) in_flight: Option<tokio::task::JoinHandle<Result<(String, u64), ServiceError>>>,
    /// Bytes handed to parts not yet recorded as stored.
    pub(super) queued: u64,
    pub(super) _permit: TransferPermit,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload").finish_non_exhaustive()
    }
}

/// The answer when an upload's stored state changed under its stream.
pub(super) fn upload_moved(upload_id: &str) -> ServiceError {
    ServiceError::Aborted(format!(
        "upload `{upload_id}` changed while this stream was sending (abandoned after a long pause, or sent twice at once): ask UploadStatus, then resume or start again"
    ))
}

impl Upload {
    pub(super) fn done(doc: Document) -> Self {
        Self {
            inner: None,
            done: Some(doc),
        }
    }

    /// An upload taking bytes; `state` is what its row holds (title and notes opened).
    pub(super) fn resume(
        vault: Vault,
        grant: Grant,
        state: UploadState,
        key: DataKey,
        permit: TransferPermit,
    ) -> Self {
        Self {
            inner: Some(UploadInner {
                vault,
                grant,
                stored: state.as_stored(),
                state,
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
    pub(super) fn finishing(
        vault: Vault,
        grant: Grant,
        state: UploadState,
        permit: TransferPermit,
    ) -> Self {
        Self {
            inner: Some(UploadInner {
                vault,
                grant,
                stored: state.as_stored(),
                state,
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
    pub(super) async fn check_type(&mut self) -> Result<(), ServiceError> {
        if self.state.content_type.is_none()
            && self.state.received == 0
            && self.buffer.len() >= SNIFF_BYTES
        {
            self.state.content_type = Some(sniff(&self.buffer)?.to_owned());
        }
        Ok(())
    }

    pub(super) fn check_type_final(&mut self) -> Result<(), ServiceError> {
        if self.state.content_type.is_none() {
            self.state.content_type = Some(sniff(&self.buffer)?.to_owned());
        }
        Ok(())
    }

    /// Writes the state if the row still holds what this stream last stored: read, checked,
    /// then replaced by compare-and-set against that read, so a clean-up pass or another
    /// stream that wrote since wins and this stream stops.
    pub(super) async fn save(&mut self, ttl: Option<Duration>) -> Result<(), ServiceError> {
        let store = &*self.vault.store;
        let id = self.state.upload_id.as_str();
        let read = older_as_abandoned(UPLOAD_ROWS.read(store, id, "").await, None)?
            .filter(|read| matches!(&read.value, UploadRow::Open(s) if *s == self.stored))
            .ok_or_else(|| upload_moved(id))?;
        let next = UploadRow::Open(self.state.clone());
        UPLOAD_ROWS
            .replace(store, (id, ""), &read, next, ttl)
            .await?
            .ok_or_else(|| upload_moved(id))?;
        self.stored = self.state.as_stored();
        Ok(())
    }

    /// Starts sealing and storing a part, after recording the one before it.
    pub(super) async fn store_part(
        &mut self,
        plain: Vec<u8>,
        last: bool,
    ) -> Result<(), ServiceError> {
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
    pub(super) async fn settle(&mut self) -> Result<(), ServiceError> {
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
    pub(super) async fn complete(mut self) -> Result<Document, ServiceError> {
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
    pub(super) async fn record(mut self) -> Result<Document, ServiceError> {
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
        let completed_row = UPLOAD_ROWS.row(&state.upload_id, "", &UploadRow::Open(completed))?;
        let mut batch = vec![
            DOCUMENT_ROWS.put_mutation(&doc.owner_id, &doc.id, &doc)?,
            Mutation::Put(completed_row.with_ttl(ENDED_UPLOAD_TTL)),
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

impl Vault {
    // ----- upload ---------------------------------------------------------------------------

    /// An upload's state (`None` before it starts); FAILED_PRECONDITION once abandoned.
    pub(super) async fn upload_state(
        &self,
        upload_id: &str,
    ) -> Result<Option<UploadState>, ServiceError> {
        let row = UPLOAD_ROWS.get(&*self.store, upload_id, "").await;
        match older_as_abandoned(row, Some(UploadRow::Abandoned))? {
            None => Ok(None),
            Some(UploadRow::Open(state)) => Ok(Some(state)),
            Some(UploadRow::Abandoned) => Err(ServiceError::FailedPrecondition(format!(
                "upload `{upload_id}` was abandoned after a day without news and its bytes removed: start again with a new upload id"
            ))),
        }
    }

    /// Whether `owner`'s vault was erased: an erased person's token, still valid for a few
    /// minutes, must not bring a vault back.
    pub(super) async fn erased(&self, owner: &str) -> Result<bool, ServiceError> {
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
            Some(state) => {
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
                    return Ok(Upload::finishing(self.clone(), grant, state, permit));
                }
                if meta.offset != state.received {
                    return Err(ServiceError::FailedPrecondition(format!(
                        "upload `{}` has {} bytes stored: send again from byte {} (offset {})",
                        meta.upload_id, state.received, state.received, state.received
                    )));
                }
                let permit = self.transfers.acquire(&transfer_caller(principal))?;
                let key = self.upload_key(&state).await?;
                Ok(Upload::resume(self.clone(), grant, state, key, permit))
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
                let row = UploadRow::Open(state.clone());
                let claimed = UPLOAD_ROWS
                    .put_if_absent(&*self.store, &state.upload_id, "", &row)
                    .await?;
                if !claimed {
                    return Err(ServiceError::Aborted(format!(
                        "upload `{}` started twice at once: ask UploadStatus, then resume",
                        state.upload_id
                    )));
                }
                self.mark_open(&state).await?;
                Ok(Upload::resume(self.clone(), grant, state, key, permit))
            }
        }
    }

    /// The upload's state with its title and notes opened (they are stored sealed).
    pub(super) async fn with_meta(
        &self,
        mut state: UploadState,
    ) -> Result<UploadState, ServiceError> {
        if !state.sealed_meta.is_empty() {
            let vault = self.vault_key(&state.owner_id, false).await?;
            (state.title, state.notes) =
                Self::open_meta(&vault, &state.document_id, &state.sealed_meta)?;
        }
        Ok(state)
    }

    pub(super) async fn upload_key(&self, state: &UploadState) -> Result<DataKey, ServiceError> {
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
}

#[cfg(test)]
mod tests {
    use passerelle_store::Store;

    use super::*;

    fn state() -> UploadState {
        UploadState {
            upload_id: "7f0c7a6e-2c1d-4f7e-9a51-3b0f0c1d2e3f".into(),
            owner_id: "owner".into(),
            document_id: "doc".into(),
            kind: DocumentType::Other,
            title: "Titre".into(),
            folder: "papiers".into(),
            issued_on: Date::from_calendar_date(2024, time::Month::March, 1).ok(),
            expires_on: Date::from_calendar_date(2034, time::Month::February, 28).ok(),
            private: false,
            notes: "Notes".into(),
            sealed_meta: vec![1, 2, 3],
            size: 10,
            received: 4,
            part_hashes: vec!["h0".into()],
            content_type: Some("application/pdf".into()),
            wrapped_key: vec![4, 5],
            started_at: 100,
            touched_at: 200,
            created_by: "owner".into(),
            completing: false,
            quota_reserved: false,
            completed: false,
        }
    }

    /// An upload row is stored as before rows were typed while the upload runs (a bare
    /// state), so uploads under way across the change go on; the clean-up pass's older mark
    /// (the bare bytes `abandoned`) reads as abandoned, never as an internal error.
    #[tokio::test]
    async fn upload_rows_keep_their_format_and_the_older_mark_reads_as_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let store = passerelle_store::sqlite::SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let state = state();
        let id = state.upload_id.as_str();

        let bare = serde_json::to_vec(&state).unwrap();
        store
            .put(Row::new(UPLOADS, id, "", bare.clone()))
            .await
            .unwrap();
        let read = UPLOAD_ROWS.get(&store, id, "").await.unwrap();
        assert_eq!(read, Some(UploadRow::Open(state.as_stored())));
        UPLOAD_ROWS
            .put(&store, id, "", &UploadRow::Open(state.clone()))
            .await
            .unwrap();
        assert_eq!(store.get(UPLOADS, id, "").await.unwrap(), Some(bare));

        UPLOAD_ROWS
            .put(&store, id, "", &UploadRow::Abandoned)
            .await
            .unwrap();
        let mark = store.get(UPLOADS, id, "").await.unwrap();
        assert_eq!(mark.as_deref(), Some(&b"\"abandoned\""[..]));
        assert_eq!(
            UPLOAD_ROWS.get(&store, id, "").await.unwrap(),
            Some(UploadRow::Abandoned)
        );

        store
            .put(Row::new(UPLOADS, id, "", b"abandoned".to_vec()))
            .await
            .unwrap();
        let older = UPLOAD_ROWS.get(&store, id, "").await;
        let older = older_as_abandoned(older, Some(UploadRow::Abandoned)).unwrap();
        assert_eq!(older, Some(UploadRow::Abandoned));
        let failing = Err::<Option<UploadRow>, _>(passerelle_store::Error::Backend {
            engine: "sqlite",
            message: "down".into(),
        });
        assert!(matches!(
            older_as_abandoned(failing, None),
            Err(ServiceError::Unavailable(_))
        ));
    }
}
