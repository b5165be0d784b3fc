//! Bounds on documents moving at once, in all and per caller: each transfer holds a few 4 MiB
//! parts in memory, so the count is the memory bound.

use super::*;

/// Bounds on documents moving at once: each transfer holds up to three 4 MiB parts in memory
/// (one filling or sent, one sealed or opened ahead, the stream's buffer), so the count is the
/// memory bound. One caller may not take them all.
#[derive(Debug)]
pub struct Transfers {
    pub(super) per_caller: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    pub(super) total: Arc<tokio::sync::Semaphore>,
    pub(super) max_per_caller: usize,
}

/// A transfer under way; it frees its place when dropped.
#[derive(Debug)]
pub struct TransferPermit {
    pub(super) transfers: Arc<Transfers>,
    pub(super) caller: String,
    pub(super) _total: tokio::sync::OwnedSemaphorePermit,
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
pub(super) fn transfer_caller(principal: &Principal) -> String {
    principal
        .actor
        .clone()
        .unwrap_or_else(|| principal.subject.clone())
}
