//! Documents and their metadata (sealed titles and notes): list, read, change, delete; the
//! room each vault uses.

use super::*;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageCounter {
    pub bytes: u64,
    pub documents: u64,
}

impl Vault {
    // ----- documents ------------------------------------------------------------------------

    /// Seals a document's title and notes with its vault's key (see [`Document::title`]).
    pub(super) fn seal_meta(
        vault: &WrappingKey,
        doc_id: &str,
        title: &str,
        notes: &str,
    ) -> Result<Vec<u8>, ServiceError> {
        vault.wrap(&format!("doc-meta:{doc_id}"), &json(&(title, notes))?)
    }

    /// Opens what [`Self::seal_meta`] sealed.
    pub(super) fn open_meta(
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

    /// Documents with their title and notes opened.
    pub(super) async fn open_documents(
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
    pub(super) async fn document_row(&self, doc: &Document) -> Result<Row, ServiceError> {
        let vault = self.vault_key(&doc.owner_id, false).await?;
        let mut stored = doc.clone();
        stored.sealed_meta = Self::seal_meta(&vault, &doc.id, &doc.title, &doc.notes)?;
        Ok(DOCUMENT_ROWS.row(&doc.owner_id, &doc.id, &stored)?)
    }

    pub(super) async fn load(
        &self,
        owner: &str,
        doc_id: &str,
    ) -> Result<Option<Document>, ServiceError> {
        let Some(doc) = DOCUMENT_ROWS.get(&*self.store, owner, doc_id).await? else {
            return Ok(None);
        };
        Ok(self.open_documents(owner, vec![doc]).await?.pop())
    }

    /// A document the principal may see, or NOT_FOUND (private ones do not exist for agents).
    pub(super) async fn visible_document(
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
    pub(super) async fn stored_documents(
        &self,
        owner: &str,
    ) -> Result<Vec<Document>, ServiceError> {
        let rows = DOCUMENT_ROWS.scan_all(&*self.store, owner).await?;
        Ok(rows.into_iter().map(|(_, doc)| doc).collect())
    }

    pub(super) async fn all_documents(&self, owner: &str) -> Result<Vec<Document>, ServiceError> {
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
            &count_documents(docs.len()),
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
        Ok(USAGE_COUNTERS
            .get(&*self.store, owner, "")
            .await?
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

    pub(super) async fn add_usage(
        &self,
        owner: &str,
        bytes: i64,
        documents: i64,
        quota: Option<u64>,
    ) -> Result<(), ServiceError> {
        let updated = USAGE_COUNTERS
            .update(&*self.store, owner, "", 64, |current| {
                let current = current.unwrap_or_default();
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
                Ok(Some(next))
            })
            .await?;
        match updated {
            Updated::Contended => Err(ServiceError::Unavailable(
                "the vault is busy: try again".into(),
            )),
            Updated::Written(_) | Updated::Unchanged => Ok(()),
        }
    }
}

/// `1 document`, `2 documents`: the audit trail's words.
pub(super) fn count_documents(n: usize) -> String {
    match n {
        1 => "1 document".to_owned(),
        n => format!("{n} documents"),
    }
}
