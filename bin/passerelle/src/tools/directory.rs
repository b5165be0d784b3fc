//! `passerelle directory`: importing and exporting places in the national schema.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use passerelle_bus::outbox::OutboxRelay;
use passerelle_directory::files::{self, Format};
use passerelle_directory::service::Directory;
use passerelle_kit::config::EngineArgs;

#[derive(Subcommand, Debug)]
pub enum DirectoryCommand {
    /// Import a file in the national schema (CSV or JSON): places kept, doubtful values reported
    /// as warnings, unusable rows refused with their line, field and value, duplicates merged
    /// and reported.
    Import(ImportArgs),
    /// Write every place to a file: CSV, JSON or GeoJSON (from the extension), or
    /// data·inclusion's structures and services (--format data-inclusion).
    Export(ExportArgs),
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The file to import.
    pub file: PathBuf,
    /// csv or json; by default, from the file's extension.
    #[arg(long)]
    pub format: Option<String>,
    /// Who collected the data, for rows that do not say.
    #[arg(long, default_value = "")]
    pub source: String,
    #[command(flatten)]
    pub engines: EngineArgs,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Where to write.
    pub file: PathBuf,
    /// csv, json, geojson or data-inclusion; by default, from the file's extension.
    #[arg(long)]
    pub format: Option<String>,
    #[command(flatten)]
    pub engines: EngineArgs,
}

impl DirectoryCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            DirectoryCommand::Import(args) => import(args).await,
            DirectoryCommand::Export(args) => export(args).await,
        }
    }
}

fn format_for(explicit: Option<&str>, file: &std::path::Path) -> anyhow::Result<Format> {
    let name = explicit
        .map(str::to_owned)
        .or_else(|| file.extension().map(|e| e.to_string_lossy().into_owned()))
        .unwrap_or_default();
    Format::from_name(&name).with_context(|| {
        format!(
            "format `{name}` is not known: expected csv, json, geojson or data-inclusion (--format)"
        )
    })
}

async fn open(engines: &EngineArgs) -> anyhow::Result<(Directory, OutboxRelay)> {
    let engines = engines.open().await.map_err(anyhow::Error::msg)?;
    let relay = OutboxRelay::new(
        engines.store.clone(),
        engines.bus.clone(),
        passerelle_directory::service::PRODUCER,
    );
    let outbox = passerelle_bus::outbox::Outbox::new(engines.store.clone(), relay.clone());
    let directory = Directory::load(engines.store, outbox)
        .await
        .context("cannot load the directory")?;
    Ok((directory, relay))
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let format = format_for(args.format.as_deref(), &args.file)?;
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let rows = files::read(format, &bytes, &args.source).map_err(anyhow::Error::msg)?;
    let (directory, relay) = open(&args.engines).await?;
    let bar = indicatif::ProgressBar::new(rows.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} importing [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let report = directory
        .import(None, rows, |done, _| bar.set_position(done as u64))
        .await?;
    bar.finish_and_clear();
    // Announce every change before leaving, so running services update their index.
    let announcing = indicatif::ProgressBar::new_spinner();
    announcing.set_message("announcing the changes on the event bus");
    announcing.enable_steady_tick(Duration::from_millis(200));
    while relay
        .relay_once()
        .await
        .context("cannot announce the changes on the bus")?
        > 0
    {}
    announcing.finish_and_clear();

    println!(
        "{}: {} imported, {} updated, {} merged, {} rejected, {} warnings",
        args.file.display(),
        report.imported,
        report.updated,
        report.merged.len(),
        report.rejected.len(),
        report.warnings.len()
    );
    for (line, imported, existing, why) in &report.merged {
        println!("  merged   line {line}: {imported} into {existing} ({why})");
    }
    for rejection in &report.rejected {
        println!("  rejected {rejection}");
    }
    for warning in &report.warnings {
        println!("  warning  {warning}");
    }
    Ok(())
}

async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let format = format_for(args.format.as_deref(), &args.file)?;
    let (directory, _) = open(&args.engines).await?;
    let bytes = directory.export(format)?;
    std::fs::write(&args.file, &bytes)
        .with_context(|| format!("cannot write {}", args.file.display()))?;
    println!(
        "{}: {} places, {} bytes",
        args.file.display(),
        directory.len(),
        bytes.len()
    );
    Ok(())
}
