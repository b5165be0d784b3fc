//! `passerelle survey`: importing digital-literacy survey answers and writing the managers'
//! dashboard tables.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use passerelle_analytics::pipeline::{self, Period};
use passerelle_analytics::service::{Analytics, PRODUCER};
use passerelle_bus::outbox::OutboxRelay;
use passerelle_kit::clock::SystemClock;
use passerelle_kit::config::EngineArgs;

use passerelle_analytics::config::AnalyticsArgs;

#[derive(Subcommand, Debug)]
pub enum SurveyCommand {
    /// Import survey answers (CSV or Parquet; see analytics/README.md for the columns): good
    /// rows kept, bad rows reported with their line, field and value; answers already there
    /// are not added twice.
    Import(ImportArgs),
    /// Write the dashboard tables (indicators and progress, small cells blanked) as CSV and
    /// Parquet into a directory.
    Report(ReportArgs),
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The survey file (.csv or .parquet).
    pub file: PathBuf,
    #[command(flatten)]
    pub analytics: AnalyticsArgs,
    #[command(flatten)]
    pub engines: EngineArgs,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Where to write indicators.csv, indicators.parquet, progress.csv and progress.parquet.
    #[arg(long)]
    pub out: PathBuf,
    /// month, quarter or year.
    #[arg(long, default_value = "quarter")]
    pub period: String,
    #[command(flatten)]
    pub analytics: AnalyticsArgs,
    #[command(flatten)]
    pub engines: EngineArgs,
}

impl SurveyCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            SurveyCommand::Import(args) => import(args).await,
            SurveyCommand::Report(args) => report(args).await,
        }
    }
}

async fn open(engines: &EngineArgs, analytics: &AnalyticsArgs) -> anyhow::Result<Analytics> {
    let rules = analytics.rules()?;
    let engines = engines.open().await.map_err(anyhow::Error::msg)?;
    let relay = OutboxRelay::new(engines.store.clone(), engines.bus.clone(), PRODUCER);
    Ok(Analytics::new(
        engines.store.clone(),
        passerelle_bus::outbox::Outbox::new(engines.store, relay),
        Arc::new(SystemClock),
        rules,
        None,
    ))
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    if !args.file.is_file() {
        anyhow::bail!("{}: no such file", args.file.display());
    }
    let analytics = open(&args.engines, &args.analytics).await?;
    let checking = indicatif::ProgressBar::new_spinner();
    checking.set_message(format!("reading and checking {}", args.file.display()));
    checking.enable_steady_tick(std::time::Duration::from_millis(200));
    let bar = indicatif::ProgressBar::hidden();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} storing [{bar:40}] {pos}/{len} answers ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let report = analytics
        .import_file(&args.file, |done, total| {
            if bar.is_hidden() {
                checking.finish_and_clear();
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_length(total as u64);
            }
            bar.set_position(done as u64);
        })
        .await?;
    checking.finish_and_clear();
    bar.finish_and_clear();
    println!(
        "{}: {} rows, {} imported, {} updated, {} already there, {} rejected",
        args.file.display(),
        report.rows,
        report.imported,
        report.updated,
        report.unchanged,
        report.rejected_rows
    );
    for rejection in &report.rejections {
        println!("  rejected {rejection}");
    }
    let described = report.rejections.len();
    let counted: usize = report.by_field.values().sum();
    if counted > described {
        let fields: Vec<String> = report
            .by_field
            .iter()
            .map(|(field, n)| format!("{field}: {n}"))
            .collect();
        println!(
            "  … {} more problems not listed; by field: {}",
            counted - described,
            fields.join(", ")
        );
    }
    Ok(())
}

async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let period = Period::parse(&args.period).map_err(anyhow::Error::msg)?;
    let analytics = open(&args.engines, &args.analytics).await?;
    let working = indicatif::ProgressBar::new_spinner();
    working.set_message("computing the dashboard tables");
    working.enable_steady_tick(std::time::Duration::from_millis(200));
    let (dashboards, answers) = analytics.dashboards(period).await?;
    let written = pipeline::write_tables(&dashboards, &args.out).map_err(anyhow::Error::msg)?;
    working.finish_and_clear();
    println!(
        "{} answers; tables with no cell under {} people:",
        answers,
        analytics.rules().min_cell_size
    );
    for path in written {
        println!("  {}", path.display());
    }
    Ok(())
}
