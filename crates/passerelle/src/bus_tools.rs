//! `passerelle bus`: operator tools for the event log, on whichever engine `--bus` names.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use passerelle_bus::{DynBus, Headers, Record};

#[derive(Subcommand, Debug)]
pub enum BusCommand {
    /// Append records and print each one's position once it is durable: a smoke test of the
    /// bus and a measure of its append rate.
    Append(AppendArgs),
    /// Print the records of topics as a consumer group sees them, committing as it goes.
    Tail(TailArgs),
}

#[derive(Args, Debug)]
pub struct BusArg {
    /// Event bus URL: sqlite://PATH or kafka://HOST:PORT[,HOST:PORT...].
    #[arg(
        long,
        env = "PASSERELLE_BUS",
        default_value = "sqlite://passerelle-data/bus.db"
    )]
    pub bus: String,
}

#[derive(Args, Debug)]
pub struct AppendArgs {
    #[command(flatten)]
    pub bus: BusArg,
    /// Topic to append to.
    #[arg(long)]
    pub topic: String,
    /// How many records.
    #[arg(long, default_value_t = 1)]
    pub count: u64,
    /// Appends in flight at once.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 64)]
    pub payload_bytes: usize,
}

#[derive(Args, Debug)]
pub struct TailArgs {
    #[command(flatten)]
    pub bus: BusArg,
    /// Topics to read.
    #[arg(long, required = true)]
    pub topic: Vec<String>,
    /// Consumer group; its committed offsets say where to resume.
    #[arg(long, default_value = "passerelle-tail")]
    pub group: String,
    /// Stop after this many records (default: run until Ctrl-C).
    #[arg(long)]
    pub limit: Option<usize>,
}

impl BusCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            BusCommand::Append(args) => append(args).await,
            BusCommand::Tail(args) => tail(args).await,
        }
    }
}

/// The payload of record `i`: its key repeated to the requested size, so a reader can check
/// it without knowing anything else.
pub fn synthetic_payload(key: &str, bytes: usize) -> Vec<u8> {
    key.bytes().cycle().take(bytes.max(key.len())).collect()
}

async fn append(args: AppendArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    let bus: DynBus = passerelle_bus::open(&args.bus.bus)
        .await
        .context("cannot open the event bus")?;
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (bus, next, topic) = (bus.clone(), next.clone(), args.topic.clone());
        let (count, size) = (args.count, args.payload_bytes);
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return Ok::<(), anyhow::Error>(());
                }
                let key = format!("record-{i}");
                let mut headers = Headers::default();
                headers.insert("origin", "passerelle bus append");
                let position = bus
                    .append(Record {
                        topic: topic.clone(),
                        key: key.clone(),
                        payload: synthetic_payload(&key, size),
                        headers,
                    })
                    .await?;
                // One line per durable append, flushed at once: whoever reads this may kill
                // the process at any moment and hold us to every line printed.
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "acked {} {} {key}",
                    position.partition, position.offset
                )?;
                out.flush()?;
            }
        }));
    }
    for worker in workers {
        worker.await.context("an append task panicked")??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "{} records in {elapsed:.2}s ({:.0} records/s)",
        args.count,
        args.count as f64 / elapsed.max(f64::EPSILON)
    );
    Ok(())
}

async fn tail(args: TailArgs) -> anyhow::Result<()> {
    let bus = passerelle_bus::open(&args.bus.bus)
        .await
        .context("cannot open the event bus")?;
    let topics: Vec<&str> = args.topic.iter().map(String::as_str).collect();
    let mut consumer = bus.subscribe(&args.group, &topics).await?;
    let shutdown = passerelle_kit::shutdown::on_signal();
    let mut seen = 0;
    while !shutdown.is_cancelled() && args.limit.is_none_or(|l| seen < l) {
        let want = args.limit.map_or(100, |l| (l - seen).min(100));
        let deliveries = tokio::select! {
            () = shutdown.cancelled() => break,
            d = consumer.poll(want, Duration::from_secs(1)) => d?,
        };
        for d in &deliveries {
            let kind = d.headers.get_str("event_type").unwrap_or("-");
            println!(
                "{}/{}@{} key={} type={kind} bytes={}",
                d.topic,
                d.partition,
                d.offset,
                d.key,
                d.payload.len()
            );
        }
        consumer.commit(&deliveries).await?;
        seen += deliveries.len();
    }
    Ok(())
}
