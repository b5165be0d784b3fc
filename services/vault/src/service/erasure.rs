//! Erasing a vault with its account (its key destroyed), and the clean-up of abandoned
//! uploads and orphan bytes.

use super::*;

/// What the clean-up pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cleanup {
    pub abandoned_uploads: usize,
    pub orphan_documents: usize,
}

impl Vault {
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
        for (upload_id, open) in OPEN_UPLOAD_ROWS.scan_all_each(&*self.store, "open").await? {
            if open.is_ok_and(|(o, _, _)| o == owner) {
                batch.push(Mutation::delete(UPLOADS, &upload_id, ""));
                batch.push(Mutation::delete(OPEN_UPLOADS, "open", &upload_id));
            }
        }
        batch.push(Mutation::delete(USAGE, owner, ""));
        // A share that does not read still goes, only its codes are left to expire.
        for (share_id, share) in SHARE_ROWS.scan_all_each(&*self.store, owner).await? {
            if let Ok(share) = share {
                batch.push(Mutation::delete(SHARE_CODES, &share.code_hash, ""));
                batch.push(Mutation::delete(SHARE_CODES, &share.link_hash, ""));
            }
            batch.push(Mutation::delete(SHARES, owner, &share_id));
        }
        // Access records are removed unread.
        for (access_id, _) in self.store.scan_all(SHARE_ACCESS, owner).await? {
            batch.push(Mutation::delete(SHARE_ACCESS, owner, &access_id));
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
    pub(super) async fn mark_open(&self, state: &UploadState) -> Result<(), ServiceError> {
        let open = (
            state.owner_id.clone(),
            state.document_id.clone(),
            state.started_at,
        );
        OPEN_UPLOAD_ROWS
            .put(&*self.store, "open", &state.upload_id, &open)
            .await
            .map_err(ServiceError::from)
    }

    pub async fn cleanup(&self, older_than: Duration) -> Result<Cleanup, ServiceError> {
        let cutoff = self.now() - i64::try_from(older_than.as_secs()).unwrap_or(i64::MAX);
        let mut report = Cleanup::default();
        let stored = self.blobs.documents().await?;
        let mut live_uploads = BTreeSet::new();
        let rows = OPEN_UPLOAD_ROWS.scan_all_each(&*self.store, "open").await?;
        for (upload_id, open) in rows {
            let Ok((owner, doc, _)) = open else {
                continue;
            };
            let read = UPLOAD_ROWS.read(&*self.store, &upload_id, "").await;
            let read = older_as_abandoned(read, None)?;
            let open = read.as_ref().and_then(|read| match &read.value {
                UploadRow::Open(state) => Some((read, state)),
                UploadRow::Abandoned => None,
            });
            match open {
                Some((_, state)) if state.completed => {}
                Some((_, state)) if state.last_news() > cutoff => {
                    live_uploads.insert((owner, doc));
                    continue;
                }
                // Stored whole but never recorded (the process stopped in between) and not
                // replayed since: abandoned like the others, its counted room given back.
                Some((read, state)) => {
                    let key = (upload_id.as_str(), "");
                    let abandoned = UploadRow::Abandoned;
                    let ttl = Some(ENDED_UPLOAD_TTL);
                    if UPLOAD_ROWS
                        .replace(&*self.store, key, read, abandoned, ttl)
                        .await?
                        .is_none()
                    {
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
                // Absent, or abandoned already (so is a row that does not read: see
                // `older_as_abandoned`).
                None => {}
            }
            self.store.delete(OPEN_UPLOADS, "open", &upload_id).await?;
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
}
