//! Brute-force protection for anything guessed: secrets, recovery codes, share codes.
//!
//! Failures are counted per key — a name (whether or not an account has it, so the answers
//! never tell) or a source address — in the store, so every replica sees the same counts. Past
//! a free allowance, each further failure makes the next attempt wait twice as long, up to
//! [`MAX_DELAY`]: nobody is ever locked out for good — at worst they wait 15 minutes, and the
//! right secret then works. A success clears a name's count; counts are forgotten a day (names)
//! or an hour (sources) after the last failure.

use std::time::Duration;

use passerelle_kit::ServiceError;
use passerelle_store::{DynStore, Row};
use serde::{Deserialize, Serialize};

/// The longest anyone waits between two attempts.
pub const MAX_DELAY: i64 = 15 * 60;
/// Failures per username before any wait.
pub const FREE_FAILURES_PER_USERNAME: u32 = 5;
/// Failures per source address before any wait.
pub const FREE_FAILURES_PER_SOURCE: u32 = 50;

const THROTTLE_TABLE: &str = "login_throttle";

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

/// Counts failures in the store, so every replica of the service sees the same counts.
#[derive(Clone)]
pub struct Throttle {
    store: DynStore,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Throttle")
    }
}

fn unavailable(e: passerelle_store::Error) -> ServiceError {
    ServiceError::Unavailable(format!("the store did not answer: {e}"))
}

impl Throttle {
    pub fn new(store: DynStore) -> Self {
        Self { store }
    }

    async fn read(&self, key: &ThrottleKey) -> Result<(Counter, Option<Vec<u8>>), ServiceError> {
        let raw = self
            .store
            .get(THROTTLE_TABLE, &key.partition(), "")
            .await
            .map_err(unavailable)?;
        let counter = raw
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default();
        Ok((counter, raw))
    }

    /// Seconds to wait before an attempt is taken, 0 when it may go ahead.
    pub async fn wait(&self, key: &ThrottleKey, now: i64) -> Result<i64, ServiceError> {
        let (counter, _) = self.read(key).await?;
        Ok((counter.next_allowed_at - now).max(0))
    }

    /// Refuses the attempt (RESOURCE_EXHAUSTED, saying how long to wait) while any of `keys`
    /// is waiting.
    pub async fn guard(&self, keys: &[ThrottleKey], now: i64) -> Result<(), ServiceError> {
        let mut wait = 0;
        for key in keys {
            wait = wait.max(self.wait(key, now).await?);
        }
        if wait > 0 {
            return Err(ServiceError::ResourceExhausted(format!(
                "too many attempts: wait {wait} seconds, then try again"
            )));
        }
        Ok(())
    }

    /// Records a failure on every key.
    pub async fn fail_all(&self, keys: &[ThrottleKey], now: i64) -> Result<(), ServiceError> {
        for key in keys {
            self.fail(key, now).await?;
        }
        Ok(())
    }

    /// Records a failure; compare-and-set, so parallel attempts each count.
    pub async fn fail(&self, key: &ThrottleKey, now: i64) -> Result<(), ServiceError> {
        for _ in 0..16 {
            let (counter, raw) = self.read(key).await?;
            let failures = counter.failures.saturating_add(1);
            let next = Counter {
                failures,
                next_allowed_at: now + delay_after(failures, key.free_failures()),
            };
            let row = Row::new(
                THROTTLE_TABLE,
                key.partition(),
                "",
                serde_json::to_vec(&next).unwrap_or_default(),
            )
            .with_ttl(key.memory());
            let written = match raw {
                Some(raw) => self.store.compare_and_set(row, &raw).await,
                None => self.store.put_if_absent(row).await,
            }
            .map_err(unavailable)?;
            if written {
                return Ok(());
            }
        }
        Err(ServiceError::Unavailable(
            "too many sign-in attempts at once: try again".into(),
        ))
    }

    /// Forgets a username's failures after a success.
    pub async fn clear(&self, key: &ThrottleKey) -> Result<(), ServiceError> {
        let (counter, raw) = self.read(key).await?;
        if let Some(raw) = raw
            && counter != Counter::default()
        {
            let row = Row::new(
                THROTTLE_TABLE,
                key.partition(),
                "",
                serde_json::to_vec(&Counter::default()).unwrap_or_default(),
            )
            .with_ttl(key.memory());
            // Losing this race only means an older count survives: never a lock-out.
            self.store
                .compare_and_set(row, &raw)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
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
