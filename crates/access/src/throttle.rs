//! Brute-force protection for anything guessed: secrets, recovery codes, share codes.
//!
//! Failures are counted per key — a name (whether or not an account has it, so the answers
//! never tell) or a source address (the client's, as the trusted proxy in front says: see
//! `passerelle_core::server::client_address`) — in the store, so every replica sees the same
//! counts. Every attempt counts as a failure from the moment it is taken until it succeeds. Past
//! a free allowance, each further failure makes the next attempt wait twice as long, up to
//! [`MAX_DELAY`]: nobody is ever locked out for good — at worst they wait 15 minutes, and the
//! right secret then works. A success clears a name's count; counts are forgotten a day (names)
//! or an hour (sources) after the last failure.

use std::time::Duration;

use passerelle_core::ServiceError;
use passerelle_store::{DynStore, Table, Updated};
use serde::{Deserialize, Serialize};

/// The longest anyone waits between two attempts.
pub const MAX_DELAY: i64 = 15 * 60;
/// Failures per username before any wait.
pub const FREE_FAILURES_PER_USERNAME: u32 = 5;
/// Failures per source address before any wait.
pub const FREE_FAILURES_PER_SOURCE: u32 = 50;

const THROTTLE_TABLE: &str = "login_throttle";
/// A counter per throttled key: partition = the key.
const COUNTERS: Table<Counter> = Table::new(THROTTLE_TABLE);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Counter {
    failures: u32,
    /// Unix seconds before which no attempt is taken.
    next_allowed_at: i64,
}

/// The throttle of one username or source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThrottleKey {
    Username(String),
    Source(String),
}

impl ThrottleKey {
    fn partition(&self) -> String {
        // Hashed: the table must not become a list of names people typed.
        match self {
            ThrottleKey::Username(name) => format!("user:{}", sha256_hex(name)),
            ThrottleKey::Source(addr) => format!("source:{}", sha256_hex(addr)),
        }
    }

    fn free_failures(&self) -> u32 {
        match self {
            ThrottleKey::Username(_) => FREE_FAILURES_PER_USERNAME,
            ThrottleKey::Source(_) => FREE_FAILURES_PER_SOURCE,
        }
    }

    fn memory(&self) -> Duration {
        match self {
            ThrottleKey::Username(_) => Duration::from_secs(24 * 3600),
            ThrottleKey::Source(_) => Duration::from_secs(3600),
        }
    }
}

/// The wait after `failures` failures, given a free allowance.
pub fn delay_after(failures: u32, free: u32) -> i64 {
    if failures < free {
        return 0;
    }
    let doublings = (failures - free).min(20);
    (1i64 << doublings).min(MAX_DELAY)
}

/// Attempts per key in flight in this process at once are serialized (so a burst on one name
/// does not turn into a storm of failed compare-and-sets); replicas still race, and
/// compare-and-set settles those.
const LOCK_STRIPES: usize = 64;
/// Compare-and-set rounds before an attempt is refused as "too busy": only replicas racing on
/// one key get there, and the attempt is then not taken at all, so nothing is lost.
const MAX_ROUNDS: u32 = 200;

/// Counts failures in the store, so every replica of the service sees the same counts.
///
/// An attempt is counted as a failure *before* the secret is checked ([`Throttle::attempt`]),
/// and given back only when it succeeds ([`Throttle::succeeded`]). So a burst of parallel
/// guesses is counted as it arrives — the sixth guess of a burst waits like the sixth of a
/// sequence — and no failure can be lost: if it cannot be counted, the guess is not checked.
#[derive(Clone)]
pub struct Throttle {
    store: DynStore,
    locks: std::sync::Arc<Vec<tokio::sync::Mutex<()>>>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Throttle")
    }
}

fn too_many(wait: i64) -> ServiceError {
    ServiceError::ResourceExhausted(format!(
        "too many attempts: wait {wait} seconds, then try again"
    ))
}

/// An attempt that was counted. Pass it to [`Throttle::succeeded`] when the secret was right;
/// drop it otherwise (it stays counted as a failure).
#[derive(Debug)]
#[must_use = "an attempt that succeeded must be given back with Throttle::succeeded"]
pub struct Attempt {
    keys: Vec<ThrottleKey>,
}

impl Throttle {
    pub fn new(store: DynStore) -> Self {
        Self {
            store,
            locks: std::sync::Arc::new(
                (0..LOCK_STRIPES)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
            ),
        }
    }

    async fn read(&self, key: &ThrottleKey) -> Result<Counter, ServiceError> {
        Ok(COUNTERS
            .get(&*self.store, &key.partition(), "")
            .await?
            .unwrap_or_default())
    }

    /// Seconds to wait before an attempt is taken, 0 when it may go ahead.
    pub async fn wait(&self, key: &ThrottleKey, now: i64) -> Result<i64, ServiceError> {
        let counter = self.read(key).await?;
        Ok((counter.next_allowed_at - now).max(0))
    }

    /// Changes a key's counter with `change` (which may refuse), compare-and-set against the
    /// stored value, retried until it lands.
    async fn update(
        &self,
        key: &ThrottleKey,
        mut change: impl FnMut(Counter) -> Result<Option<Counter>, ServiceError>,
    ) -> Result<(), ServiceError> {
        let partition = key.partition();
        let stripe = partition.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        }) % LOCK_STRIPES;
        let _serialized = self.locks[stripe].lock().await;
        let updated = COUNTERS
            .with_ttl(key.memory())
            .update(&*self.store, &partition, "", MAX_ROUNDS, |counter| {
                change(counter.unwrap_or_default())
            })
            .await?;
        match updated {
            Updated::Contended => Err(ServiceError::Unavailable(
                "too many attempts at once on this account: try again in a moment".into(),
            )),
            Updated::Written(_) | Updated::Unchanged => Ok(()),
        }
    }

    /// Takes an attempt on every key: refused (RESOURCE_EXHAUSTED, saying how long to wait)
    /// while any key is waiting; otherwise counted as a failure on each key before the caller
    /// checks anything.
    pub async fn attempt(&self, keys: &[ThrottleKey], now: i64) -> Result<Attempt, ServiceError> {
        let mut wait = 0;
        for key in keys {
            wait = wait.max(self.wait(key, now).await?);
        }
        if wait > 0 {
            return Err(too_many(wait));
        }
        for key in keys {
            self.update(key, |counter| {
                let wait = counter.next_allowed_at - now;
                if wait > 0 {
                    return Err(too_many(wait));
                }
                let failures = counter.failures.saturating_add(1);
                Ok(Some(Counter {
                    failures,
                    next_allowed_at: now + delay_after(failures, key.free_failures()),
                }))
            })
            .await?;
        }
        Ok(Attempt {
            keys: keys.to_vec(),
        })
    }

    /// The attempt succeeded: a name's failures are forgotten; a source gets its attempt back
    /// (a success is not a failure, even behind a shared address).
    pub async fn succeeded(&self, attempt: Attempt, now: i64) -> Result<(), ServiceError> {
        for key in &attempt.keys {
            match key {
                ThrottleKey::Username(_) => {
                    self.update(key, |counter| {
                        Ok((counter != Counter::default()).then(Counter::default))
                    })
                    .await?
                }
                ThrottleKey::Source(_) => self.give_back(key, now).await?,
            }
        }
        Ok(())
    }

    /// The attempt could not be checked at all (the service was too busy): it is no failure.
    pub async fn cancel(&self, attempt: Attempt, now: i64) -> Result<(), ServiceError> {
        for key in &attempt.keys {
            self.give_back(key, now).await?;
        }
        Ok(())
    }

    async fn give_back(&self, key: &ThrottleKey, now: i64) -> Result<(), ServiceError> {
        self.update(key, |counter| {
            if counter.failures == 0 {
                return Ok(None);
            }
            let failures = counter.failures - 1;
            Ok(Some(Counter {
                failures,
                next_allowed_at: counter
                    .next_allowed_at
                    .min(now + delay_after(failures, key.free_failures())),
            }))
        })
        .await
    }
}

/// SHA-256 in hex: keys are stored hashed, so the table is no list of what people typed.
fn sha256_hex(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_then_stop_at_fifteen_minutes() {
        let waits: Vec<i64> = (0..20).map(|n| delay_after(n, 5)).collect();
        assert_eq!(&waits[..8], &[0, 0, 0, 0, 0, 1, 2, 4]);
        assert_eq!(delay_after(14, 5), 512);
        assert_eq!(delay_after(15, 5), MAX_DELAY);
        assert_eq!(delay_after(1_000, 5), MAX_DELAY);
        assert_eq!(delay_after(u32::MAX, 5), MAX_DELAY);
    }
}

#[cfg(test)]
mod store_tests {
    use std::sync::Arc;

    use super::*;
    use passerelle_store::sqlite::SqliteStore;

    fn throttle() -> (Throttle, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        (Throttle::new(store), dir)
    }

    /// A burst of parallel guesses is counted as it arrives: of 40 at once on one name, only
    /// the free allowance is let through to be checked, and each of those counts.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_parallel_burst_gets_no_more_guesses_than_a_sequence() {
        let (throttle, _dir) = throttle();
        let key = ThrottleKey::Username("soleil-4821".into());
        let attempts = (0..40).map(|_| {
            let (throttle, key) = (throttle.clone(), key.clone());
            tokio::spawn(async move { throttle.attempt(&[key], 1_000).await.map(drop) })
        });
        let outcomes = futures_join(attempts).await;
        let taken = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(taken as u32, FREE_FAILURES_PER_USERNAME, "{outcomes:?}");
        assert!(outcomes.iter().all(|o| match o {
            Ok(()) => true,
            Err(ServiceError::ResourceExhausted(m)) => m.contains("wait 1 seconds"),
            Err(_) => false,
        }));
        assert_eq!(throttle.wait(&key, 1_000).await.unwrap(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_success_clears_the_name_and_gives_the_source_its_attempt_back() {
        let (throttle, _dir) = throttle();
        let name = ThrottleKey::Username("jardin-1234".into());
        let source = ThrottleKey::Source("192.0.2.7".into());
        for _ in 0..4 {
            drop(
                throttle
                    .attempt(&[name.clone(), source.clone()], 10)
                    .await
                    .unwrap(),
            );
        }
        let ok = throttle
            .attempt(&[name.clone(), source.clone()], 10)
            .await
            .unwrap();
        throttle.succeeded(ok, 10).await.unwrap();
        let name_count = throttle.read(&name).await.unwrap();
        let source_count = throttle.read(&source).await.unwrap();
        assert_eq!(name_count, Counter::default());
        assert_eq!(
            source_count.failures, 4,
            "four failures stay, the success does not count"
        );
        // Many successes from one address (a library's shared connection) never lock it.
        for _ in 0..200 {
            let ok = throttle
                .attempt(std::slice::from_ref(&source), 20)
                .await
                .unwrap();
            throttle.succeeded(ok, 20).await.unwrap();
        }
        assert_eq!(throttle.wait(&source, 20).await.unwrap(), 0);
    }

    async fn futures_join(
        handles: impl Iterator<Item = tokio::task::JoinHandle<Result<(), ServiceError>>>,
    ) -> Vec<Result<(), ServiceError>> {
        let mut out = Vec::new();
        for handle in handles.collect::<Vec<_>>() {
            out.push(handle.await.unwrap());
        }
        out
    }
}
