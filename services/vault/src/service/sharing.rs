//! Sharing: time-limited codes to one or several documents, ended with the mandate that
//! allowed them, every access recorded.

use super::*;

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
    pub(super) code_hash: String,
    pub(super) link_hash: String,
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

impl Vault {
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
        let pointer = (owner.to_owned(), record.id.clone());
        let mut batch = vec![
            SHARE_ROWS.put_mutation(owner, &record.id, &record)?,
            Mutation::Put(
                SHARE_POINTERS
                    .row(&record.code_hash, "", &pointer)?
                    .with_ttl(ttl),
            ),
            Mutation::Put(
                SHARE_POINTERS
                    .row(&record.link_hash, "", &pointer)?
                    .with_ttl(ttl),
            ),
        ];
        batch.extend(self.access.audit(
            owner,
            &grant,
            "vault.CreateShare",
            &share_detail(record.document_ids.len(), &record.recipient),
            now,
        ));
        self.commit(batch).await?;
        Ok(NewShare {
            record,
            code,
            link_token,
        })
    }

    pub(super) async fn share(
        &self,
        owner: &str,
        share_id: &str,
    ) -> Result<ShareRecord, ServiceError> {
        SHARE_ROWS
            .get(&*self.store, owner, share_id)
            .await?
            .ok_or_else(|| no_share(share_id))
    }

    pub async fn revoke_share(
        &self,
        principal: &Principal,
        owner: &str,
        share_id: &str,
    ) -> Result<ShareRecord, ServiceError> {
        let grant = self.authorize(principal, owner).await?;
        let mut share = self.share(owner, share_id).await?;
        share.revoked = true;
        let mut batch = vec![
            SHARE_ROWS.put_mutation(owner, share_id, &share)?,
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
        let (page, _) = SHARE_ROWS
            .scan(&*self.store, owner, &KeyRange::all(), 1000)
            .await?;
        let mut shares: Vec<(ShareRecord, Vec<ShareAccess>)> = page
            .into_iter()
            .map(|(_, share)| (share, Vec::new()))
            .collect();
        let rows = SHARE_ACCESS_ROWS.scan_all(&*self.store, owner).await?;
        for (_, access) in rows {
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

    /// The share a code opens, if it is live.
    pub(super) async fn by_code(
        &self,
        code: &str,
        source: &str,
    ) -> Result<ShareRecord, ServiceError> {
        let (owner, share_id) = self.code_target(code, source).await?;
        let share = self.share(&owner, &share_id).await?;
        self.check_live(&share).await?;
        Ok(share)
    }

    /// The owner and id of the share a code points to. Codes are guessed at the source's peril:
    /// every try counts against the source until it turns out to be a real code, like sign-ins.
    pub(super) async fn code_target(
        &self,
        code: &str,
        source: &str,
    ) -> Result<(String, String), ServiceError> {
        let now = self.now();
        let key = [ThrottleKey::Source(format!("share:{source}"))];
        let attempt = self.throttle.attempt(&key, now).await?;
        let pointer = SHARE_POINTERS
            .get(&*self.store, &passerelle_access::codes::hash(code), "")
            .await?;
        let Some(pointer) = pointer else {
            return Err(code_refused()); // a guess: it stays counted
        };
        // A real code, even of an ended share, is no guess.
        self.throttle.succeeded(attempt, now).await?;
        Ok(pointer)
    }

    /// Refuses a share that ended (revoked, expired, or its mandate no longer allowing it) as
    /// a wrong code is refused.
    pub(super) async fn check_live(&self, share: &ShareRecord) -> Result<(), ServiceError> {
        if share.revoked
            || self.now() >= share.expires_at
            || !self.mandate_still_allows(share).await?
        {
            return Err(code_refused());
        }
        Ok(())
    }

    /// A share an agent made lives only as long as the mandate that allowed it covers
    /// documents; the owner's own shares depend on no mandate.
    pub(super) async fn mandate_still_allows(
        &self,
        share: &ShareRecord,
    ) -> Result<bool, ServiceError> {
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
    pub(super) fn share_reaches(share: &ShareRecord, doc: &Document) -> bool {
        share.mandate_id.is_none() || !doc.private
    }

    /// Ends every share made under `mandate_id` (on `MandateRevoked` covering documents, or
    /// `MandateExpired`). Returns how many ended.
    pub async fn end_shares_of_mandate(
        &self,
        owner: &str,
        mandate_id: &str,
    ) -> Result<usize, ServiceError> {
        let rows = SHARE_ROWS.scan_all(&*self.store, owner).await?;
        let mut batch = Vec::new();
        for (share_id, mut share) in rows {
            if share.revoked || share.mandate_id.as_deref() != Some(mandate_id) {
                continue;
            }
            share.revoked = true;
            batch.push(SHARE_ROWS.put_mutation(owner, &share_id, &share)?);
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

    pub(super) async fn record_access(
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
        let access_id = uuid::Uuid::now_v7().to_string();
        SHARE_ACCESS_ROWS
            .put(&*self.store, &share.owner_id, &access_id, &access)
            .await
            .map_err(ServiceError::from)
    }

    pub async fn open_share(
        &self,
        code: &str,
        opened_by: Option<&Principal>,
        source: &str,
    ) -> Result<(ShareRecord, Vec<Document>), ServiceError> {
        let share = self.by_code(code, source).await?;
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
        // The share read here rather than through `by_code`: a one-time code's use below is
        // claimed by compare-and-set against what was checked.
        let (owner, share_id) = self.code_target(code, source).await?;
        let read = SHARE_ROWS
            .read(&*self.store, &owner, &share_id)
            .await?
            .ok_or_else(|| no_share(&share_id))?;
        self.check_live(&read.value).await?;
        let mut share = read.value.clone();
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
            let key = (owner.as_str(), share_id.as_str());
            let claimed = SHARE_ROWS
                .replace(&*self.store, key, &read, share.clone(), None)
                .await?;
            if claimed.is_none() {
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

/// The answer to a code that opens nothing now, whatever the reason.
fn code_refused() -> ServiceError {
    ServiceError::NotFound("this code opens nothing: it is wrong, expired or revoked".into())
}

fn no_share(share_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("no share `{share_id}` in this vault"))
}

/// The audit trail's words for a share: `1 document for CAF`, `2 documents, no recipient named`.
fn share_detail(documents: usize, recipient: &str) -> String {
    let documents = super::documents::count_documents(documents);
    match recipient.trim() {
        "" => format!("{documents}, no recipient named"),
        recipient => format!("{documents} for {recipient}"),
    }
}

#[cfg(test)]
mod tests {
    use super::share_detail;

    #[test]
    fn a_share_reads_as_words_in_the_trail() {
        assert_eq!(share_detail(1, "CAF"), "1 document for CAF");
        assert_eq!(share_detail(2, ""), "2 documents, no recipient named");
        assert_eq!(share_detail(3, "  "), "3 documents, no recipient named");
    }
}
