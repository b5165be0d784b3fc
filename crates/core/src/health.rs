//! Whether a service's background work keeps up. A consumer that cannot reach its store, or
//! whose handler keeps failing on an outage, reports itself stuck; once something has been
//! stuck for longer than [`STUCK_AFTER`], the server's `grpc.health.v1` check answers
//! NOT_SERVING (and names what is stuck in the logs), so the cluster's probes and the
//! operator see it — instead of a service that looks fine while it silently skips erasures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a component may be stuck before the service reports NOT_SERVING: long enough to
/// ride out a store failover or a broker restart, short enough to be seen.
pub const STUCK_AFTER: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
struct Stuck {
    since: Instant,
    reason: String,
}

/// The background components of one service and what holds them up, if anything.
#[derive(Clone, Debug, Default)]
pub struct Health {
    stuck: Arc<Mutex<HashMap<String, Stuck>>>,
}

impl Health {
    /// `component` cannot make progress, for `reason`. The first report starts the clock.
    pub fn stuck(&self, component: &str, reason: &str) {
        let mut stuck = self.stuck.lock().unwrap_or_else(PoisonError::into_inner);
        stuck
            .entry(component.to_owned())
            .and_modify(|s| s.reason = reason.to_owned())
            .or_insert_with(|| Stuck {
                since: Instant::now(),
                reason: reason.to_owned(),
            });
    }

    /// `component` made progress.
    pub fn ok(&self, component: &str) {
        let mut stuck = self.stuck.lock().unwrap_or_else(PoisonError::into_inner);
        if stuck.remove(component).is_some() {
            tracing::info!(component, "background work resumed");
        }
    }

    /// What has been stuck for at least `for_at_least`: `(component, reason, for how long)`.
    pub fn problems(&self, for_at_least: Duration) -> Vec<(String, String, Duration)> {
        let stuck = self.stuck.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<_> = stuck
            .iter()
            .map(|(name, s)| (name.clone(), s.reason.clone(), s.since.elapsed()))
            .filter(|(_, _, age)| *age >= for_at_least)
            .collect();
        out.sort();
        out
    }

    /// Whether the service is fit to serve: nothing stuck for [`STUCK_AFTER`] or more.
    pub fn serving(&self) -> bool {
        self.problems(STUCK_AFTER).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuck_components_count_only_once_they_stay_stuck() {
        let health = Health::default();
        assert!(health.serving());
        health.stuck("vault-consumer", "store unreachable");
        assert!(health.serving(), "just stuck: not yet reported");
        assert_eq!(health.problems(Duration::ZERO).len(), 1);
        health.stuck("vault-consumer", "still unreachable");
        let problems = health.problems(Duration::ZERO);
        assert_eq!(problems[0].1, "still unreachable");
        health.ok("vault-consumer");
        assert!(health.problems(Duration::ZERO).is_empty());
    }
}
