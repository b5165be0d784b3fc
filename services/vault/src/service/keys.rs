//! The keys of a vault: created once, wrapped by the master key; each document's key wrapped
//! by its vault's.

use super::*;

impl Vault {
    // ----- keys -----------------------------------------------------------------------------

    /// The owner's vault key, made on first use.
    pub(super) async fn vault_key(
        &self,
        owner: &str,
        create: bool,
    ) -> Result<WrappingKey, ServiceError> {
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

    pub(super) async fn data_key(&self, doc: &Document) -> Result<DataKey, ServiceError> {
        let vault = self.vault_key(&doc.owner_id, false).await?;
        let secret = vault
            .unwrap(&format!("doc-key:{}", doc.id), &doc.wrapped_key)
            .ok_or_else(|| damaged(&doc.id, "its key does not open"))?;
        DataKey::from_secret(&secret)
            .ok_or_else(|| damaged(&doc.id, "its key has the wrong length"))
    }
}
