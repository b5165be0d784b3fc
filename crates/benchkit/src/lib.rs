//! Measures an async operation's throughput and latency, and prints candidates side by side
//! with their baseline from the same run, as ratios.
//!
//! Database and log operations are judged by operations per second at a given concurrency and
//! by tail latency, which fixed-iteration statistical harnesses do not report; this runs each
//! operation for a fixed time with N workers instead.
#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one measurement found.
#[derive(Clone, Debug)]
pub struct Stats {
    pub label: String,
    pub ops: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl Stats {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// How long each measurement runs, from `PASSERELLE_BENCH_SECONDS` (default 5).
pub fn duration() -> Duration {
    let secs = std::env::var("PASSERELLE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    Duration::from_secs(secs)
}

/// Runs `op(i)` with `concurrency` workers for `duration()` (after a short warm-up), `i` being
/// a number unique across the run.
pub async fn measure<F, Fut>(label: &str, concurrency: usize, op: F) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let counter = Arc::new(AtomicU64::new(0));
    run(&op, &counter, concurrency, Duration::from_millis(500)).await;
    let started = Instant::now();
    let mut latencies = run(&op, &counter, concurrency, duration()).await;
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let stats = Stats {
        label: label.to_owned(),
        ops: latencies.len() as u64,
        elapsed,
        p50: pick(0.50),
        p99: pick(0.99),
    };
    println!(
        "  {:<44} {:>10.0} ops/s   p50 {:>8.2} ms   p99 {:>8.2} ms",
        stats.label,
        stats.ops_per_sec(),
        ms(stats.p50),
        ms(stats.p99)
    );
    stats
}

async fn run<F, Fut>(
    op: &Arc<F>,
    counter: &Arc<AtomicU64>,
    concurrency: usize,
    time: Duration,
) -> Vec<Duration>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let deadline = Instant::now() + time;
    let workers = (0..concurrency.max(1)).map(|_| {
        let (op, counter) = (Arc::clone(op), Arc::clone(counter));
        async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let start = Instant::now();
                op(i).await;
                latencies.push(start.elapsed());
            }
            latencies
        }
    });
    futures::future::join_all(workers).await.concat()
}

/// Prints how `candidate` compares with `baseline` (throughput ratio, > 1 is faster).
pub fn compare(what: &str, baseline: &Stats, candidate: &Stats) {
    println!(
        "  => {what}: {} / {} = {:.2}x throughput",
        candidate.label,
        baseline.label,
        candidate.ops_per_sec() / baseline.ops_per_sec().max(f64::EPSILON)
    );
}

/// Runs a benchmark's body on a multi-threaded runtime (each bench's `main`).
pub fn block_on<F: Future>(body: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime for the benchmark")
        .block_on(body)
}

/// Prints a section title.
pub fn section(title: &str) {
    println!("\n{title}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
