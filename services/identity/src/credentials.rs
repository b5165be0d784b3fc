//! Secrets at rest: Argon2id (by default the OWASP minimum: 19 MiB, 2 passes, 1 lane), off
//! the async runtime. A sign-in for a name that has no account still verifies a hash, so the
//! answer takes as long as for a real account. Brute-force protection is
//! [`passerelle_access::throttle`].
//!
//! Each hash holds its memory cost for its whole run, and anyone may ask for one (Login needs
//! no token), so hashes run at most `memory budget / memory cost` at a time; a few times that
//! many wait their turn, and beyond that a sign-in is refused at once with UNAVAILABLE ("try
//! again in a moment") rather than queued — a burst of a thousand logins then costs at most
//! the budget, not a thousand times 19 MiB.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{
    ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, PasswordHash, PasswordVerifier, Version,
};
use passerelle_kit::ServiceError;

/// Hashes and checks secrets with Argon2id.
#[derive(Clone)]
pub struct Hasher {
    /// A hash of a random secret with the same parameters, checked when there is no account.
    dummy: Arc<OnceLock<String>>,
    gate: Arc<Gate>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

/// A hash to compute on one of the hashing threads.
type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// The hashing threads and their queue.
struct Gate {
    queue: std::sync::mpsc::SyncSender<Job>,
    threads: usize,
}

/// Hashes waiting for their turn, per hashing thread.
const WAITING_PER_RUNNING: usize = 4;

/// One hashing thread's tools: its Argon2 memory is allocated once and used by every hash it
/// computes, so the process holds exactly `threads × memory` for hashing, whatever the load.
/// (Allocating it per hash would leave freed 19 MiB blocks in the allocator's per-thread
/// arenas: measured here, 16 of them after a burst of 50 sign-ins on 3 threads.)
struct Worker {
    argon: Argon2<'static>,
    params: Params,
    blocks: Vec<Block>,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("hashing failed: {e}"))
}

impl Worker {
    fn hash(&mut self, secret: &[u8]) -> Result<String, ServiceError> {
        let salt = passerelle_kit::secrets::random::<16>()?;
        let mut out = [0u8; 32];
        self.argon
            .hash_password_into_with_memory(secret, &salt, &mut out, &mut self.blocks[..])
            .map_err(internal)?;
        let phc = PasswordHash {
            algorithm: ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(internal)?,
            salt: Some(Salt::new(&salt).map_err(internal)?),
            hash: Some(Output::new(&out).map_err(internal)?),
        };
        Ok(phc.to_string())
    }

    /// Whether `secret` matches `phc`. Hashes made with other parameters (an older setting)
    /// are still checked, with memory of their own.
    fn verify(&mut self, secret: &[u8], phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return false;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        let ours = parsed.algorithm == ARGON2ID_IDENT
            && params.m_cost() == self.params.m_cost()
            && params.t_cost() == self.params.t_cost()
            && params.p_cost() == self.params.p_cost();
        if !ours {
            return self.argon.verify_password(secret, &parsed).is_ok();
        }
        let expected: &[u8] = expected.as_ref();
        let mut out = vec![0u8; expected.len()];
        if self
            .argon
            .hash_password_into_with_memory(secret, salt, &mut out, &mut self.blocks[..])
            .is_err()
        {
            return false;
        }
        // In constant time: how much of a guess was right must not show.
        out.iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl Hasher {
    /// Argon2id with `memory_kib` KiB and `passes` passes, one lane (the service's defaults are
    /// the OWASP minimum: 19 MiB, 2 passes), on as many threads as hashes fit in `budget_mib`
    /// MiB (at least one).
    pub fn new(
        memory_kib: u32,
        passes: u32,
        budget_mib: u32,
    ) -> Result<Self, crate::error::SetupError> {
        let params = Params::new(memory_kib, passes, 1, None).map_err(|e| {
            crate::error::SetupError::Argon2 {
                memory_kib,
                passes,
                reason: e.to_string(),
            }
        })?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let threads = (u64::from(budget_mib) * 1024 / u64::from(memory_kib.max(1))).max(1) as usize;
        let (queue, jobs) = std::sync::mpsc::sync_channel::<Job>(threads * WAITING_PER_RUNNING);
        let jobs = Arc::new(std::sync::Mutex::new(jobs));
        for n in 0..threads {
            let jobs = Arc::clone(&jobs);
            let mut worker = Worker {
                argon: argon.clone(),
                blocks: Vec::new(),
                params: params.clone(),
            };
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take a job, not to run it.
                        let job = match jobs.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => {
                                // Allocated on the thread's first hash, then kept: memory is
                                // spent as the load asks for it, never more than the budget.
                                if worker.blocks.is_empty() {
                                    worker.blocks =
                                        vec![Block::default(); worker.params.block_count()];
                                }
                                job(&mut worker)
                            }
                            Err(_) => return, // every Hasher is gone
                        }
                    }
                })
                .map_err(|e| crate::error::SetupError::HashingThread(e.to_string()))?;
        }
        Ok(Self {
            dummy: Arc::new(OnceLock::new()),
            gate: Arc::new(Gate { queue, threads }),
        })
    }

    /// How many hashes may run at once.
    pub fn concurrency(&self) -> usize {
        self.gate.threads
    }

    /// Runs `work` on a hashing thread, or refuses at once when too many wait already.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |worker| {
            let _ = done.send(work(worker));
        });
        self.gate.queue.try_send(job).map_err(|e| match e {
            std::sync::mpsc::TrySendError::Full(_) => ServiceError::Unavailable(
                "too many sign-ins at this moment: try again in a few seconds".into(),
            ),
            std::sync::mpsc::TrySendError::Disconnected(_) => {
                ServiceError::Internal("the hashing threads stopped".into())
            }
        })?;
        result
            .await
            .map_err(|_| ServiceError::Internal("a hashing thread failed".into()))
    }

    /// Hashes a secret (random salt), off the async runtime.
    pub async fn hash(&self, secret: &str) -> Result<String, ServiceError> {
        let secret = secret.to_owned();
        self.run(move |worker| worker.hash(secret.as_bytes()))
            .await?
    }

    /// Checks a secret against a PHC hash. An empty hash stands for "no account": a hash is
    /// still checked, so the answer takes as long, and it is always a no.
    pub async fn verify(&self, secret: &str, phc: &str) -> Result<bool, ServiceError> {
        let (secret, phc) = (secret.to_owned(), phc.to_owned());
        let dummy = Arc::clone(&self.dummy);
        self.run(move |worker| {
            if phc.is_empty() {
                let target = dummy.get_or_init(|| {
                    worker
                        .hash(uuid::Uuid::new_v4().to_string().as_bytes())
                        .unwrap_or_default()
                });
                let target = target.clone();
                worker.verify(secret.as_bytes(), &target);
                return false;
            }
            worker.verify(secret.as_bytes(), &phc)
        })
        .await
    }
}

/// SHA-256 in hex, for high-entropy one-time codes (a slow hash adds nothing there).
pub fn sha256_hex(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_their_secret() {
        let hasher = Hasher::new(19 * 1024, 2, 64).unwrap();
        let phc = hasher.hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hasher.verify("correct horse", &phc).await.unwrap());
        assert!(!hasher.verify("wrong horse", &phc).await.unwrap());
        assert!(
            !hasher.verify("correct horse", "").await.unwrap(),
            "no account never verifies"
        );
        assert!(!hasher.verify("x", "not a hash").await.unwrap());
        assert!(
            Hasher::new(1, 1, 64)
                .unwrap_err()
                .to_string()
                .contains("expected at least 8 KiB")
        );
        assert_eq!(hasher.concurrency(), 3, "64 MiB hold three 19 MiB hashes");
    }

    /// A burst beyond what may run and wait is refused at once, not queued without end.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_beyond_the_budget_is_shed() {
        let hasher = Hasher::new(19 * 1024, 2, 19).unwrap();
        assert_eq!(hasher.concurrency(), 1);
        let checks = (0..40).map(|_| {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.verify("guess", "").await })
        });
        let mut shed = 0;
        let mut answered = 0;
        for check in checks.collect::<Vec<_>>() {
            match check.await.unwrap() {
                Ok(false) => answered += 1,
                Err(ServiceError::Unavailable(m)) => {
                    assert!(m.contains("try again"), "{m}");
                    shed += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        // The queue's places, at least (the thread may take one more off it meanwhile).
        assert!(answered >= WAITING_PER_RUNNING, "answered {answered}");
        assert!(shed > 0, "40 at once over 1 running + 4 waiting: none shed");
    }
}
