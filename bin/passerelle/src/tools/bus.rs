//! `passerelle bus`: operator tools for the event log, on whichever engine `--bus` names.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use passerelle_bus::consume::dead_letters;
use passerelle_bus::{DynBus, Headers, Record};

#[derive(Subcommand, Debug)]
pub enum BusCommand {
    /// Append records and print each one's position once it is durable: a smoke test of the
    /// bus and a measure of its append rate.
    Append(AppendArgs),
    /// Print the records of topics as a consumer group sees them, committing as it goes.
    Tail(TailArgs),
    /// Events a service's consumer refused and parked: list them, or send them again once the
    /// cause is fixed.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLetterCommand),
}

#[derive(Subcommand, Debug)]
pub enum DeadLetterCommand {
    /// One line per parked event: group, id, event type and id, when, attempts, reason.
    List(DeadLetterArgs),
    /// Append parked events to their topic again (the group that parked them handles them
    /// anew; the others skip them as already handled), then remove them from the list.
    Replay(ReplayArgs),
}

#[derive(Args, Debug)]
pub struct DeadLetterArgs {
    #[command(flatten)]
    pub bus: BusArg,
    /// Store URL: sqlite://PATH or scylla://HOST[:PORT]/KEYSPACE.
    #[arg(
        long,
        env = "PASSERELLE_STORE",
        default_value = "sqlite://passerelle-data/store.db"
    )]
    pub store: String,
    /// Only this consumer group's (default: every group's).
    #[arg(long)]
    pub group: Option<String>,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub letters: DeadLetterArgs,
    /// The ids to replay, as `list` prints them; none with --all.
    pub ids: Vec<String>,
    /// Replay every parked event (of --group, if given).
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
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
            BusCommand::DeadLetters(DeadLetterCommand::List(args)) => list_dead_letters(args).await,
            BusCommand::DeadLetters(DeadLetterCommand::Replay(args)) => replay(args).await,
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
                    position.partition,
                    position
                        .offset
                        .map_or_else(|| "?".to_owned(), |o| o.to_string())
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

async fn open_letters(
    args: &DeadLetterArgs,
) -> anyhow::Result<(passerelle_store::DynStore, Vec<dead_letters::DeadLetter>)> {
    let store = passerelle_store::open(&args.store)
        .await
        .context("cannot open the store")?;
    let letters = dead_letters::list(&store, args.group.as_deref())
        .await
        .context("cannot read the dead letters")?;
    Ok((store, letters))
}

fn when(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

async fn list_dead_letters(args: DeadLetterArgs) -> anyhow::Result<()> {
    let (_, letters) = open_letters(&args).await?;
    if letters.is_empty() {
        println!("no parked events");
        return Ok(());
    }
    for l in &letters {
        println!(
            "{} {} type={} event={} parked={} attempts={} reason: {}",
            l.group,
            l.id,
            if l.event_type.is_empty() {
                "-"
            } else {
                &l.event_type
            },
            if l.event_id.is_empty() {
                "-"
            } else {
                &l.event_id
            },
            when(l.parked_at),
            l.attempts,
            l.reason
        );
    }
    println!("{} parked events", letters.len());
    Ok(())
}

async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.all || !args.ids.is_empty(),
        "say which events to replay: their ids as `passerelle bus dead-letters list` prints them, or --all"
    );
    let (store, letters) = open_letters(&args.letters).await?;
    let chosen: Vec<&dead_letters::DeadLetter> = letters
        .iter()
        .filter(|l| args.all || args.ids.contains(&l.id))
        .collect();
    if let Some(missing) = args
        .ids
        .iter()
        .find(|id| !letters.iter().any(|l| &l.id == *id))
    {
        anyhow::bail!(
            "no parked event `{missing}`: `passerelle bus dead-letters list` shows the ids"
        );
    }
    let bus = passerelle_bus::open(&args.letters.bus.bus)
        .await
        .context("cannot open the event bus")?;
    for letter in &chosen {
        dead_letters::replay(&store, &bus, letter)
            .await
            .with_context(|| format!("replaying {} failed", letter.id))?;
        println!("replayed {} {}", letter.group, letter.id);
    }
    println!("{} events replayed", chosen.len());
    Ok(())
}
