//! Downloads: parts fetched, authenticated and decrypted ahead of the stream, each checked
//! against its hash.

use super::*;

/// Fetches part `index` of `doc`, authenticates and decrypts it, and checks its hash: the
/// plaintext comes back only if all of that holds.
pub(super) async fn open_part(
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

impl Vault {
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
        self.audit(owner, &grant, "vault.Download", doc.kind.as_str())
            .await?;
        let stream = self.read(doc.clone(), permit).await?;
        Ok((doc, stream))
    }

    /// Streams a document's plaintext. Each part is decrypted, authenticated and checked
    /// against its hash before any of its bytes go out. A reader that takes nothing for the
    /// idle time ends the stream (its memory and its transfer place are given back).
    pub(super) async fn read(
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
}
