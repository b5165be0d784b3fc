//! `passerelle backup` and `passerelle restore`: the embedded platform's data — store, event
//! log, documents — copied while it runs, and put back on a fresh data directory.
//!
//! A backup is consistent: the store and the log are copied with SQLite's `VACUUM INTO` (a
//! snapshot of one moment), documents before and after the store's snapshot, and every
//! document the snapshot lists is checked to have all its parts in the backup (one deleted
//! while the backup ran is left out of it). A manifest lists every file with its SHA-256;
//! restore checks them all before it writes anything.
//!
//! Two things are never in a backup:
//! - the master key: a stolen backup without it opens nothing. Keep it apart (a safe, a
//!   password manager) and copy it into the new data directory before starting;
//! - the erasures made since: restore re-applies the erasure journal (`--erasures`, and the
//!   one the data directory already has) — the accounts are erased again at start and an
//!   `AccountErased` event is sent for each, so the vault destroys their keys again. An
//!   erasure therefore holds against a backup for as long as the journal is kept; keep it on
//!   other storage than the data directory (`--erasure-journal`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use clap::Args;
use serde::{Deserialize, Serialize};

const MANIFEST: &str = "manifest.json";
const JOURNAL: &str = "erasures.journal";

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// A new, empty directory to write the backup into.
    pub dir: PathBuf,
    /// The platform's data directory.
    #[arg(long, env = "PASSERELLE_DATA_DIR", default_value = "passerelle-data")]
    pub data_dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// A directory written by `passerelle backup`.
    pub dir: PathBuf,
    /// The data directory to restore into: new, or without a store and a log.
    #[arg(long, env = "PASSERELLE_DATA_DIR", default_value = "passerelle-data")]
    pub data_dir: PathBuf,
    /// Erasure journals to re-apply (the old data directory's, a copy kept elsewhere), in
    /// addition to the backup's and the target's own.
    #[arg(long)]
    pub erasures: Vec<PathBuf>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    created_at: String,
    documents: usize,
    files: Vec<FileEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct FileEntry {
    path: String,
    bytes: u64,
    sha256: String,
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        context.update(&buffer[..n]);
    }
    Ok(context
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Every file under `root`, as paths relative to it. Files being written by the document
/// store (named with a `#`) are left out: only finished parts are data.
fn files_under(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                dirs.push(path);
            } else if !entry.file_name().to_string_lossy().contains('#') {
                out.push(path.strip_prefix(root)?.to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Copies the documents not yet in the backup; returns how many were copied.
fn copy_documents(from: &Path, to: &Path) -> anyhow::Result<usize> {
    let mut copied = 0;
    for relative in files_under(from)? {
        let dest = to.join(&relative);
        if dest.exists() {
            continue;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::copy(from.join(&relative), &dest) {
            Ok(_) => copied += 1,
            // Deleted meanwhile: the store's snapshot decides whether it mattered.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot copy {}", relative.display()));
            }
        }
    }
    Ok(copied)
}

/// The documents a store file lists: `(owner, id, parts)`.
fn listed_documents(store: &Path) -> anyhow::Result<Vec<(String, String, usize)>> {
    #[derive(Deserialize)]
    struct Listed {
        part_hashes: Vec<String>,
    }
    passerelle_store::sqlite::table_rows(store, "documents")?
        .into_iter()
        .map(|(owner, id, value)| {
            let listed: Listed = serde_json::from_slice(&value)
                .with_context(|| format!("document {id} of the store does not decode"))?;
            Ok((owner, id, listed.part_hashes.len()))
        })
        .collect()
}

fn part_file(documents: &Path, owner: &str, doc: &str, index: usize) -> PathBuf {
    documents
        .join("docs")
        .join(owner)
        .join(doc)
        .join(format!("{index:06}"))
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let data = &args.data_dir;
    let store = data.join("store.db");
    ensure!(
        store.exists(),
        "{} holds no platform (no store.db): give --data-dir the platform's data directory",
        data.display()
    );
    if args.dir.exists() && std::fs::read_dir(&args.dir)?.next().is_some() {
        bail!(
            "{} is not empty: write each backup into a new directory",
            args.dir.display()
        );
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let (docs_from, docs_to) = (data.join("documents"), args.dir.join("documents"));
    let dir = args.dir.clone();
    let data = data.clone();
    let documents = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        copy_documents(&docs_from, &docs_to)?;
        // One moment for the store, then the log: an event relayed in between is in both
        // (delivered twice, handled once), never in neither.
        passerelle_store::sqlite::snapshot(&store, &dir.join("store.db"))
            .context("cannot snapshot the store")?;
        let bus = data.join("bus.db");
        if bus.exists() {
            passerelle_store::sqlite::snapshot(&bus, &dir.join("bus.db"))
                .context("cannot snapshot the event log")?;
        }
        copy_documents(&docs_from, &docs_to)?;
        // Every document of the snapshot must be whole here; one deleted while the backup
        // ran is left out of the backup's store.
        let listed = listed_documents(&dir.join("store.db"))?;
        let mut gone = Vec::new();
        for (owner, id, parts) in &listed {
            if (0..*parts).all(|i| part_file(&docs_to, owner, id, i).exists()) {
                continue;
            }
            let live = passerelle_store::sqlite::table_rows(&store, "documents")?
                .iter()
                .any(|(o, d, _)| o == owner && d == id);
            ensure!(
                !live,
                "document {id} is in the store but some of its parts are missing from {}: run `passerelle vault cleanup`, then back up again",
                docs_from.display()
            );
            gone.push((owner.clone(), id.clone()));
        }
        if !gone.is_empty() {
            let snapshot = passerelle_store::sqlite::SqliteStore::open(&dir.join("store.db"))?;
            let runtime = tokio::runtime::Handle::current();
            for (owner, id) in &gone {
                runtime.block_on(passerelle_store::Store::delete(
                    &snapshot, "documents", owner, id,
                ))?;
            }
        }
        if data.join(JOURNAL).exists() {
            std::fs::copy(data.join(JOURNAL), dir.join(JOURNAL))?;
        }
        Ok(listed.len() - gone.len())
    })
    .await
    .context("the backup task failed")??;
    let mut files = Vec::new();
    for relative in files_under(&args.dir)? {
        let path = args.dir.join(&relative);
        files.push(FileEntry {
            path: relative.to_string_lossy().into_owned(),
            bytes: std::fs::metadata(&path)?.len(),
            sha256: sha256_file(&path)?,
        });
    }
    let bytes: u64 = files.iter().map(|f| f.bytes).sum();
    let manifest = Manifest {
        format: 1,
        created_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        documents,
        files,
    };
    let manifest_path = args.dir.join(MANIFEST);
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest)?)?;
    println!(
        "backup written to {}: {documents} documents, {} files, {:.1} MB; the master key is not in it — keep it apart",
        args.dir.display(),
        manifest.files.len(),
        bytes as f64 / 1e6
    );
    Ok(())
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let manifest_path = args.dir.join(MANIFEST);
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(&manifest_path).with_context(|| {
            format!(
                "{} is not a backup: {MANIFEST} is missing",
                args.dir.display()
            )
        })?)
        .with_context(|| format!("{} does not decode", manifest_path.display()))?;
    ensure!(
        manifest.format == 1,
        "backup format {} is not known to this version: expected 1",
        manifest.format
    );
    let data = &args.data_dir;
    for held in ["store.db", "bus.db"] {
        ensure!(
            !data.join(held).exists(),
            "{} already holds a platform ({held}): restore into a new data directory, or move it away first",
            data.display()
        );
    }
    // Every file checked before anything is written.
    for file in &manifest.files {
        let path = args.dir.join(&file.path);
        ensure!(
            sha256_file(&path)? == file.sha256,
            "{} does not match the backup's manifest: the backup is damaged, use another one",
            path.display()
        );
    }
    std::fs::create_dir_all(data)?;
    for file in &manifest.files {
        if file.path == JOURNAL {
            continue;
        }
        let dest = data.join(&file.path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(args.dir.join(&file.path), &dest)
            .with_context(|| format!("cannot write {}", dest.display()))?;
    }
    // Erasures: the backup's, the target's own, and those given.
    let mut sources = vec![args.dir.join(JOURNAL), data.join(JOURNAL)];
    sources.extend(args.erasures.iter().cloned());
    let mut erased = BTreeSet::new();
    for source in &sources {
        match std::fs::read_to_string(source) {
            Ok(text) => erased.extend(passerelle_identity::service::Identity::read_journal(&text)),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound && !args.erasures.contains(source) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", source.display())),
        }
    }
    let journal: String = erased.iter().map(|id| format!("{id}\t0\n")).collect();
    std::fs::write(data.join(JOURNAL), journal)?;
    // The other services erase again on the event; identity erases the accounts at start.
    if !erased.is_empty() {
        let bus = passerelle_bus::sqlite::SqliteBus::open(&data.join("bus.db"), 4)?;
        for id in &erased {
            let (_, record) = passerelle_bus::event::new_record(
                "identity",
                "passerelle.events.v1.AccountErased",
                id,
                &passerelle_proto::events::v1::AccountErased {
                    account_id: id.clone(),
                },
            );
            passerelle_bus::Bus::append(&bus, record).await?;
        }
    }
    println!(
        "restored {} ({} documents, backed up {}) into {}; {} erasures re-applied",
        args.dir.display(),
        manifest.documents,
        manifest.created_at,
        data.display(),
        erased.len()
    );
    if !data.join("master.key").exists() {
        println!(
            "copy the master key into {} before starting (it is never in a backup)",
            data.join("master.key").display()
        );
    }
    Ok(())
}
