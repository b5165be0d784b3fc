//! The soak: `passerelle up` under a steady mixed load for `SOAK_MINUTES` (10 by default) —
//! sign-ins, account reads, uploads and downloads, document lists, place searches, surveys —
//! printing every 30 s the platform's resident memory, then per RPC the calls, the errors
//! and p50/p99, and whether memory stayed flat (last third against the first third).
//!
//! Run with `scripts/soak.sh [minutes]`; not part of the tests.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use passerelle_kit::testing::bearer;
use passerelle_proto::analytics::v1 as an;
use passerelle_proto::analytics::v1::analytics_client::AnalyticsClient;
use passerelle_proto::directory::v1 as dir;
use passerelle_proto::directory::v1::directory_client::DirectoryClient;
use passerelle_proto::identity::v1 as id;
use passerelle_proto::identity::v1::identity_client::IdentityClient;
use passerelle_proto::vault::v1 as pb;
use passerelle_proto::vault::v1::vault_client::VaultClient;
use tonic::transport::Channel;

type Timings = Arc<Mutex<BTreeMap<&'static str, (Vec<f64>, u64)>>>;

fn rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

async fn timed<T, E>(
    timings: &Timings,
    name: &'static str,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Option<T> {
    let started = Instant::now();
    let outcome = call.await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut t = timings.lock().unwrap();
    let entry = t.entry(name).or_default();
    entry.0.push(ms);
    if outcome.is_err() {
        entry.1 += 1;
    }
    outcome.ok()
}

fn pdf(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    let mut state = seed | 1;
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let minutes: u64 = std::env::var("SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(10);
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("PASSERELLE_BOOTSTRAP_ADMIN_PASSWORD", "a soak passphrase")
        .env("PASSERELLE_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut endpoints = BTreeMap::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("Press Ctrl-C") {
            break;
        }
        let mut parts = line.split_whitespace();
        if let (Some(name), Some(addr)) = (parts.next(), parts.next())
            && addr.contains(':')
            && !line.starts_with("Passerelle")
        {
            endpoints.insert(name.to_owned(), format!("http://{addr}"));
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let pid = child.id();
    let channel = |name: &str| {
        tonic::transport::Endpoint::from_shared(endpoints[name].clone())
            .unwrap()
            .connect_lazy()
    };
    let (identity, vault, directory, analytics): (Channel, Channel, Channel, Channel) = (
        channel("identity"),
        channel("vault"),
        channel("directory"),
        channel("analytics"),
    );

    let admin = IdentityClient::new(identity.clone())
        .login(id::LoginRequest {
            username: "admin".into(),
            secret: "a soak passphrase".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .access_token;
    let mut as_admin = IdentityClient::with_interceptor(identity.clone(), bearer(&admin));
    for (role, name) in [
        (id::Role::Agent, "soak-agent"),
        (id::Role::Manager, "soak-manager"),
    ] {
        as_admin
            .create_account(id::CreateAccountRequest {
                role: role as i32,
                username: name.into(),
                given_name: "Soak".into(),
                family_name: "Test".into(),
                secret: "a soak passphrase".into(),
                structure: "ccas-nord".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let login = |name: &'static str| {
        let identity = identity.clone();
        async move {
            IdentityClient::new(identity)
                .login(id::LoginRequest {
                    username: name.into(),
                    secret: "a soak passphrase".into(),
                })
                .await
                .unwrap()
                .into_inner()
                .access_token
        }
    };
    let (agent, manager) = (login("soak-agent").await, login("soak-manager").await);
    let places = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../services/directory/tests/data/lieux-amiens.csv"),
    )
    .unwrap();
    DirectoryClient::with_interceptor(directory.clone(), bearer(&manager))
        .import_places(tokio_stream::iter(vec![dir::ImportPlacesRequest {
            format: dir::Format::Csv as i32,
            source: "soak".into(),
            chunk: places,
        }]))
        .await
        .unwrap();

    let timings: Timings = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(minutes * 60);
    let mut workers = Vec::new();
    for worker in 0..6u64 {
        let (identity, vault, directory, analytics, agent, timings) = (
            identity.clone(),
            vault.clone(),
            directory.clone(),
            analytics.clone(),
            agent.clone(),
            timings.clone(),
        );
        workers.push(tokio::spawn(async move {
            // Each worker is a person with an account and a vault.
            let name = format!("soak-person-{worker}");
            let account = IdentityClient::with_interceptor(identity.clone(), bearer(&agent))
                .create_account(id::CreateAccountRequest {
                    role: id::Role::Beneficiary as i32,
                    username: name.clone(),
                    given_name: "Soak".into(),
                    family_name: "Person".into(),
                    secret: "a soak passphrase".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .account
                .unwrap();
            let mut round = 0u64;
            while Instant::now() < deadline {
                round += 1;
                let Some(token) = timed(
                    &timings,
                    "identity.Login",
                    IdentityClient::new(identity.clone()).login(id::LoginRequest {
                        username: name.clone(),
                        secret: "a soak passphrase".into(),
                    }),
                )
                .await
                .map(|r| r.into_inner().access_token) else {
                    continue;
                };
                let mut own = IdentityClient::with_interceptor(identity.clone(), bearer(&token));
                timed(
                    &timings,
                    "identity.GetAccount",
                    own.get_account(id::GetAccountRequest {
                        account_id: account.id.clone(),
                    }),
                )
                .await;
                let mut safe = VaultClient::with_interceptor(vault.clone(), bearer(&token));
                let bytes = pdf(
                    200_000 + (round % 5) as usize * 50_000,
                    worker * 1_000_003 + round,
                );
                let mut messages = vec![pb::UploadRequest {
                    part: Some(pb::upload_request::Part::Start(pb::UploadStart {
                        upload_id: uuid::Uuid::new_v4().to_string(),
                        owner_id: account.id.clone(),
                        r#type: pb::DocumentType::Payslip as i32,
                        title: format!("bulletin {round}"),
                        size_bytes: bytes.len() as i64,
                        ..Default::default()
                    })),
                }];
                messages.extend(bytes.chunks(64 * 1024).map(|c| pb::UploadRequest {
                    part: Some(pb::upload_request::Part::Chunk(c.to_vec())),
                }));
                if let Some(doc) = timed(
                    &timings,
                    "vault.Upload",
                    safe.upload(tokio_stream::iter(messages)),
                )
                .await
                {
                    let doc = doc.into_inner();
                    let download = async {
                        let mut stream = safe
                            .download(pb::DownloadRequest {
                                owner_id: account.id.clone(),
                                document_id: doc.id.clone(),
                            })
                            .await?
                            .into_inner();
                        let mut got = 0;
                        while let Some(m) = stream.message().await? {
                            if let Some(pb::download_response::Part::Chunk(c)) = m.part {
                                got += c.len();
                            }
                        }
                        if got == bytes.len() {
                            Ok(())
                        } else {
                            Err(tonic::Status::data_loss("short"))
                        }
                    };
                    timed(&timings, "vault.Download", download).await;
                    // Keep the vault from filling: every other document goes again.
                    if round.is_multiple_of(2) {
                        timed(
                            &timings,
                            "vault.DeleteDocument",
                            safe.delete_document(pb::DeleteDocumentRequest {
                                owner_id: account.id.clone(),
                                document_id: doc.id,
                            }),
                        )
                        .await;
                    }
                }
                timed(
                    &timings,
                    "vault.ListDocuments",
                    safe.list_documents(pb::ListDocumentsRequest {
                        owner_id: account.id.clone(),
                        ..Default::default()
                    }),
                )
                .await;
                timed(
                    &timings,
                    "directory.SearchPlaces",
                    DirectoryClient::new(directory.clone()).search_places(
                        dir::SearchPlacesRequest {
                            latitude: 49.894,
                            longitude: 2.302,
                            radius_m: 10_000.0,
                            open_now: round.is_multiple_of(3),
                            ..Default::default()
                        },
                    ),
                )
                .await;
                let day = format!("2026-{:02}-{:02}", 1 + round % 12, 1 + round % 28);
                timed(
                    &timings,
                    "analytics.RecordResponse",
                    AnalyticsClient::with_interceptor(analytics.clone(), bearer(&agent))
                        .record_response(an::RecordResponseRequest {
                            answer: Some(an::SurveyAnswer {
                                respondent_id: format!("SOAK-{worker}-{round}"),
                                surveyed_on: day,
                                antenna: "nord".into(),
                                age_band: "60-74".into(),
                                has_smartphone: "yes".into(),
                                has_computer: "no".into(),
                                has_internet_home: "yes".into(),
                                email: "with_help".into(),
                                online_procedure: "cannot".into(),
                                tax_online: "cannot".into(),
                                health_account: "alone".into(),
                                job_search: "cannot".into(),
                                video_call: "alone".into(),
                                online_banking: "with_help".into(),
                                spot_scam: "cannot".into(),
                            }),
                            beneficiary_id: String::new(),
                        }),
                )
                .await;
            }
        }));
    }
    let started = Instant::now();
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        tokio::time::sleep(
            Duration::from_secs(30).min(deadline.saturating_duration_since(Instant::now())),
        )
        .await;
        let rss = rss_mib(pid);
        let calls: usize = timings.lock().unwrap().values().map(|(t, _)| t.len()).sum();
        println!(
            "{:>5.1} min  RSS {rss:>4} MiB  {calls} calls",
            started.elapsed().as_secs_f64() / 60.0
        );
        samples.push(rss);
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "\n{:<26} {:>8} {:>7} {:>9} {:>9}",
        "rpc", "calls", "errors", "p50 ms", "p99 ms"
    );
    let (mut all, mut failed) = (0usize, 0u64);
    for (name, (times, errors)) in timings.lock().unwrap().iter_mut() {
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "{name:<26} {:>8} {errors:>7} {:>9.1} {:>9.1}",
            times.len(),
            at(0.5),
            at(0.99)
        );
        all += times.len();
        failed += *errors;
    }
    let third = (samples.len() / 3).max(1);
    let mean = |s: &[u64]| s.iter().sum::<u64>() as f64 / s.len().max(1) as f64;
    let (first, last) = (
        mean(&samples[..third]),
        mean(&samples[samples.len() - third..]),
    );
    println!(
        "\n{all} calls, {failed} errors ({:.3} %); RSS first third {first:.0} MiB, last third {last:.0} MiB: {}",
        failed as f64 * 100.0 / all.max(1) as f64,
        if last <= first * 1.15 + 16.0 {
            "flat"
        } else {
            "GROWING"
        }
    );
}
