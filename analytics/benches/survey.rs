//! Survey processing: 10 million survey rows (set `PASSERELLE_BENCH_ROWS` for another size) to
//! pathways and dashboard tables, with the Polars pipeline of this crate and, side by side in
//! the same run, the same computation in pandas (`survey_pandas.py`, in the Python of
//! `PASSERELLE_BENCH_PYTHON`, which `scripts/bench.sh` installs). Each side runs in a process of
//! its own, on the same Parquet file, so that its time and peak memory (VmHWM) are its own.
//!
//! One row in 100,000 is bad (an unknown antenna), so validation has something to report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use passerelle_analytics::pipeline::{self, Period};
use passerelle_analytics::rules::Rules;
use passerelle_analytics::{survey, synthetic};
use polars::prelude::*;

const CHUNK: u64 = 1_000_000;

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The survey file of `n` rows, made once and kept.
fn survey_file(dir: &Path, n: u64) -> PathBuf {
    let path = dir.join(format!("survey-{n}.parquet"));
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(dir).unwrap();
    let partial = dir.join(format!(".survey-{n}.parquet.partial"));
    let started = Instant::now();
    let first = synthetic::frame(0, 1.min(n), n, 1).unwrap();
    let mut writer = ParquetWriter::new(std::fs::File::create(&partial).unwrap())
        .batched(first.schema())
        .unwrap();
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK).min(n);
        let chunk = synthetic::frame(start, end, n, 1)
            .unwrap()
            .lazy()
            .with_row_index("i", Some(start as IdxSize))
            .with_column(
                when((col("i") % lit(100_000u32)).eq(lit(99_999u32)))
                    .then(lit("plateau"))
                    .otherwise(col("antenna"))
                    .alias("antenna"),
            )
            .drop(cols(["i"]))
            .collect()
            .unwrap();
        writer.write_batch(&chunk).unwrap();
        start = end;
        eprint!("\r  generating {n} survey rows: {start}");
    }
    writer.finish().unwrap();
    std::fs::rename(&partial, &path).unwrap();
    eprintln!(" in {:.1} s", started.elapsed().as_secs_f64());
    path
}

/// The Polars side, in its own process.
fn polars_child(file: &Path, rules_file: &Path, out: &Path) {
    let rules = Rules::parse(&std::fs::read_to_string(rules_file).unwrap()).unwrap();
    std::fs::create_dir_all(out).unwrap();
    let started = Instant::now();
    let checked = survey::check(survey::scan(file).unwrap(), today()).unwrap();
    let t_check = started.elapsed().as_secs_f64();
    let good = checked.good.height();
    let mut scored = pipeline::scored(checked.good.lazy(), &rules)
        .collect()
        .unwrap();
    let t_scored = started.elapsed().as_secs_f64();
    let mut pathways = scored
        .select([
            "respondent_id",
            "surveyed_on",
            "antenna",
            "age_band",
            pipeline::SCORE,
            pipeline::LEVEL,
            pipeline::PATHWAY,
            pipeline::FIRST_MODULE,
        ])
        .unwrap();
    ParquetWriter::new(std::fs::File::create(out.join("pathways.parquet")).unwrap())
        .finish(&mut pathways)
        .unwrap();
    drop(pathways);
    let t_pathways = started.elapsed().as_secs_f64();
    let dashboards =
        pipeline::dashboards(std::mem::take(&mut scored).lazy(), &rules, Period::Quarter).unwrap();
    pipeline::write_tables(&dashboards, out).unwrap();
    eprintln!(
        "    polars phases: checked {t_check:.2} s, scored {:.2} s, pathways written {:.2} s, dashboards {:.2} s",
        t_scored - t_check,
        t_pathways - t_scored,
        started.elapsed().as_secs_f64() - t_pathways
    );
    let seconds = started.elapsed().as_secs_f64();
    let all = dashboards
        .indicators
        .clone()
        .lazy()
        .filter(col("breakdown").eq(lit(pipeline::ALL)))
        .collect()
        .unwrap();
    let headline: Vec<f64> = ["cannot_file_taxes_online", "no_online_formality"]
        .iter()
        .map(|c| {
            all.column(c)
                .unwrap()
                .f64()
                .unwrap()
                .get(0)
                .unwrap_or(f64::NAN)
        })
        .collect();
    println!(
        "{{\"rows\": {}, \"good\": {good}, \"rejected\": {}, \"seconds\": {seconds}, \"peak_rss_bytes\": {}, \"headline\": [{}, {}]}}",
        good + checked.rejected_rows,
        checked.rejected_rows,
        peak_rss_bytes(),
        headline[0],
        headline[1]
    );
}

/// Dashboards as the service computes them, over answers stored in the embedded store,
/// side by side with the same pipeline over the same answers read from a Parquet file.
fn store_backed() {
    use std::sync::Arc;

    use passerelle_analytics::service::Analytics;
    use passerelle_bus::outbox::OutboxRelay;

    let n: u64 = std::env::var("PASSERELLE_BENCH_STORED_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    println!("\nDashboards over {n} stored answers (SQLite store) vs the same from a Parquet file");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("survey.csv");
    synthetic::write_csv(&csv, n, 3).unwrap();
    passerelle_benchkit::block_on(async {
        let store: passerelle_store::DynStore = Arc::new(
            passerelle_store::sqlite::SqliteStore::open(&dir.path().join("store.db")).unwrap(),
        );
        let bus: passerelle_bus::DynBus = Arc::new(
            passerelle_bus::sqlite::SqliteBus::open(&dir.path().join("bus.db"), 2).unwrap(),
        );
        let rules = Rules::default_rules();
        let analytics = Analytics::new(
            store.clone(),
            passerelle_bus::outbox::Outbox::new(
                store.clone(),
                OutboxRelay::new(store, bus, "analytics"),
            ),
            Arc::new(passerelle_kit::clock::SystemClock),
            rules.clone(),
            None,
        );
        let started = Instant::now();
        let report = analytics.import_file(&csv, |_, _| {}).await.unwrap();
        let import = started.elapsed().as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let rate = report.imported as f64 / import;
        println!(
            "  import into the store        {import:>8.2} s   {rate:>8.0} answers/s ({} imported)",
            report.imported
        );
        let started = Instant::now();
        let again = analytics.import_file(&csv, |_, _| {}).await.unwrap();
        println!(
            "  same file again              {:>8.2} s   ({} already there, {} added)",
            started.elapsed().as_secs_f64(),
            again.unchanged,
            again.imported
        );
        let started = Instant::now();
        let (stored, _) = analytics.dashboards(Period::Quarter).await.unwrap();
        let from_store = started.elapsed().as_secs_f64();
        println!("  dashboards from the store    {from_store:>8.2} s");

        // The baseline: the same answers in a Parquet file.
        let parquet = dir.path().join("survey.parquet");
        let mut frame = survey::check(survey::scan(&csv).unwrap(), today())
            .unwrap()
            .good;
        ParquetWriter::new(std::fs::File::create(&parquet).unwrap())
            .finish(&mut frame)
            .unwrap();
        let started = Instant::now();
        let rows = LazyFrame::scan_parquet(
            PlRefPath::try_from_path(&parquet).unwrap(),
            ScanArgsParquet::default(),
        )
        .unwrap();
        let from_file =
            pipeline::dashboards(pipeline::scored(rows, &rules), &rules, Period::Quarter).unwrap();
        let file_seconds = started.elapsed().as_secs_f64();
        println!("  dashboards from Parquet      {file_seconds:>8.2} s");
        println!(
            "  => store-backed dashboards take {:.2}x the time of the file-backed ones; same tables: {}",
            from_store / file_seconds.max(f64::EPSILON),
            stored.indicators.equals_missing(&from_file.indicators)
        );
    });
}

#[derive(Debug)]
struct Run {
    seconds: f64,
    peak: f64,
    rejected: u64,
    headline: Vec<f64>,
}

fn run(label: &str, mut command: Command) -> Option<Run> {
    let output = command
        .output()
        .expect("cannot start the benchmark process");
    if !output.status.success() {
        eprintln!(
            "  {label} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    for line in String::from_utf8_lossy(&output.stderr).lines() {
        if line.contains("phases") {
            println!("{line}");
        }
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(line).expect(line);
    let run = Run {
        seconds: value["seconds"].as_f64().unwrap_or(0.0),
        #[allow(clippy::cast_precision_loss)]
        peak: value["peak_rss_bytes"].as_u64().unwrap_or(0) as f64 / (1u64 << 20) as f64,
        rejected: value["rejected"].as_u64().unwrap_or(0),
        headline: value["headline"]
            .as_array()
            .map(|v| v.iter().filter_map(serde_json::Value::as_f64).collect())
            .unwrap_or_default(),
    };
    println!(
        "  {label:<24} {:>8.1} s   peak memory {:>8.0} MiB   rejected rows {:>4}   headline (taxes, formalities) {:?}",
        run.seconds, run.peak, run.rejected, run.headline
    );
    Some(run)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--polars-child") {
        polars_child(
            Path::new(&args[2]),
            Path::new(&args[3]),
            Path::new(&args[4]),
        );
        return;
    }
    let n: u64 = std::env::var("PASSERELLE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules_file = crate_dir.join("rules/pathways.toml");
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/survey-… → target/bench-data
    let data = exe
        .ancestors()
        .nth(3)
        .map_or_else(std::env::temp_dir, Path::to_path_buf)
        .join("bench-data");
    println!("\nSurvey processing: {n} rows to pathways and dashboard tables (one run each)");
    let file = survey_file(&data, n);
    let out = tempfile::tempdir().unwrap();

    let mut polars = Command::new(&exe);
    polars
        .arg("--polars-child")
        .arg(&file)
        .arg(&rules_file)
        .arg(out.path().join("polars"));
    let candidate = run("polars (this crate)", polars);

    store_backed();

    let python = std::env::var("PASSERELLE_BENCH_PYTHON").map_or_else(
        |_| crate_dir.join("../.venv-bench/bin/python"),
        PathBuf::from,
    );
    if !python.exists() {
        println!(
            "  pandas baseline skipped: no Python with pandas at {} (scripts/bench.sh installs it)",
            python.display()
        );
        return;
    }
    let mut pandas = Command::new(&python);
    pandas
        .arg(crate_dir.join("benches/survey_pandas.py"))
        .arg(&file)
        .arg(&rules_file)
        .arg(out.path().join("pandas"));
    let baseline = run("pandas (baseline)", pandas);
    if let (Some(c), Some(b)) = (candidate, baseline) {
        let differing = ["indicators", "progress"]
            .iter()
            .map(|t| (*t, differing_cells(out.path(), t)))
            .collect::<Vec<_>>();
        println!(
            "  => polars / pandas: {:.2}x faster, {:.2}x less peak memory; same headline figures and rejections: {}; dashboard cells differing by more than 0.05: {differing:?}",
            b.seconds / c.seconds.max(f64::EPSILON),
            b.peak / c.peak.max(f64::EPSILON),
            c.headline == b.headline && c.rejected == b.rejected,
        );
    }
}

/// How many cells of a dashboard table differ between the two sides (both written as
/// Parquet), so the baseline is known to compute the same thing.
fn differing_cells(out: &Path, table: &str) -> usize {
    let read = |side: &str| {
        let file = std::fs::File::open(out.join(side).join(format!("{table}.parquet"))).unwrap();
        ParquetReader::new(file).finish().unwrap()
    };
    let (polars, pandas) = (read("polars"), read("pandas"));
    let keys: Vec<String> = ["breakdown", "antenna", "age_band", "period"]
        .iter()
        .filter(|k| polars.schema().contains(k))
        .map(|k| (*k).to_owned())
        .collect();
    let values: Vec<String> = polars
        .get_column_names()
        .into_iter()
        .map(|c| c.to_string())
        .filter(|c| !keys.contains(c) && c != "suppressed")
        .collect();
    let cast = |df: DataFrame, suffix: &str| {
        df.lazy().select(
            keys.iter()
                .map(|k| col(k.as_str()))
                .chain(values.iter().map(|v| {
                    col(v.as_str())
                        .cast(DataType::Float64)
                        .alias(format!("{v}{suffix}"))
                }))
                .collect::<Vec<_>>(),
        )
    };
    let key_exprs: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let joined = cast(polars, "")
        .join(
            cast(pandas, "_pandas"),
            key_exprs.clone(),
            key_exprs,
            JoinArgs::new(JoinType::Full),
        )
        .collect()
        .unwrap();
    let mut differing = 0;
    for v in &values {
        let a = joined.column(v).unwrap().f64().unwrap();
        let b = joined
            .column(&format!("{v}_pandas"))
            .unwrap()
            .f64()
            .unwrap();
        differing += a
            .iter()
            .zip(b.iter())
            .filter(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() > 0.051,
                (None, None) => false,
                _ => true,
            })
            .count();
    }
    differing
}

/// The latest survey date accepted now.
fn today() -> i32 {
    use passerelle_kit::clock::{Clock, SystemClock};
    survey::latest_day(SystemClock.now())
}
