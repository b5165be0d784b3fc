//! Fault injection: identity, vault and analytics as separate processes on the real engines
//! (Apache Cassandra for the store, Apache Kafka for the bus), under a mixed load of account
//! creations, uploads and surveys, while each service is killed with SIGKILL and restarted,
//! then the broker, then the CQL node. Every acknowledged write must survive, no event may be
//! lost (every created beneficiary gets its vault, through `AccountCreated`), and consumers
//! must resume. The counts are printed.
//!
//! Needs `PASSERELLE_TEST_CQL` and `PASSERELLE_TEST_KAFKA` (scripts/test.sh sets them); it
//! stops and starts those servers through scripts/servers.sh.
#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use passerelle_kit::testing::bearer;
use passerelle_proto::analytics::v1 as an;
use passerelle_proto::analytics::v1::analytics_client::AnalyticsClient;
use passerelle_proto::identity::v1 as id;
use passerelle_proto::identity::v1::identity_client::IdentityClient;
use passerelle_proto::vault::v1 as pb;
use passerelle_proto::vault::v1::vault_client::VaultClient;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const SECRET: &str = "a fault-test passphrase";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Platform {
    env: Vec<(String, String)>,
    ports: [(&'static str, u16); 3],
    children: Mutex<Vec<(&'static str, Child)>>,
    /// Each service's log, kept across its restarts, shown when it does not come back.
    logs: std::path::PathBuf,
}

impl Platform {
    fn port(&self, service: &str) -> u16 {
        self.ports.iter().find(|(s, _)| *s == service).unwrap().1
    }

    fn url(&self, service: &str) -> String {
        format!("http://127.0.0.1:{}", self.port(service))
    }

    fn log_of(&self, service: &str) -> std::path::PathBuf {
        self.logs.join(format!("{service}.log"))
    }

    fn spawn(&self, service: &'static str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_of(service))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["serve", service, "--listen"])
            .arg(format!("127.0.0.1:{}", self.port(service)))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PASSERELLE_LOG", "warn")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.children.lock().unwrap().push((service, child));
    }

    /// SIGKILL: no drain, no flush.
    fn kill(&self, service: &str) {
        let mut children = self.children.lock().unwrap();
        for (name, child) in children.iter_mut().filter(|(n, _)| *n == service) {
            let _ = child.kill();
            let _ = child.wait();
            let _ = name;
        }
        children.retain(|(n, _)| *n != service);
    }

    async fn healthy(&self, service: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let channel = tonic::transport::Endpoint::from_shared(self.url(service))
                .unwrap()
                .connect()
                .await;
            if let Ok(channel) = channel
                && let Ok(answer) = HealthClient::new(channel)
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                && answer.into_inner().status == ServingStatus::Serving as i32
            {
                return;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.log_of(service)).unwrap_or_default();
                let tail: Vec<_> = log
                    .lines()
                    .filter(|l| !l.contains("tombstone"))
                    .rev()
                    .take(40)
                    .collect();
                let tail: Vec<_> = tail.into_iter().rev().collect();
                panic!(
                    "{service} did not come back; its log ends:\n{}",
                    tail.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        for (_, child) in self.children.lock().unwrap().iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn servers(action: &str, server: &str) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/servers.sh");
    let status = Command::new(script)
        .args([action, server])
        .status()
        .unwrap();
    assert!(status.success(), "servers.sh {action} {server} failed");
}

fn lazy(url: String) -> Channel {
    tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(20))
        .connect_lazy()
}

/// Signs in, trying again while the platform is down.
async fn login(identity: &Channel, username: &str) -> String {
    loop {
        if let Ok(answer) = IdentityClient::new(identity.clone())
            .login(id::LoginRequest {
                username: username.into(),
                secret: SECRET.into(),
            })
            .await
        {
            return answer.into_inner().access_token;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
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

fn sha(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

fn survey(respondent: &str) -> an::SurveyAnswer {
    an::SurveyAnswer {
        respondent_id: respondent.into(),
        surveyed_on: "2026-11-15".into(),
        antenna: "sud".into(),
        age_band: "40-59".into(),
        has_smartphone: "yes".into(),
        has_computer: "yes".into(),
        has_internet_home: "no".into(),
        email: "alone".into(),
        online_procedure: "with_help".into(),
        tax_online: "cannot".into(),
        health_account: "cannot".into(),
        job_search: "with_help".into(),
        video_call: "alone".into(),
        online_banking: "cannot".into(),
        spot_scam: "with_help".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_killed_services_and_restarted_engines() {
    let (Some(cql), Some(kafka)) = (
        passerelle_store::conformance::server_address("PASSERELLE_TEST_CQL", "fault-injection"),
        passerelle_store::conformance::server_address("PASSERELLE_TEST_KAFKA", "fault-injection"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    let raw: [u8; 32] = passerelle_kit::secrets::random().unwrap();
    std::fs::write(&key, base64::engine::general_purpose::STANDARD.encode(raw)).unwrap();
    let keyspace = format!(
        "faults_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    );
    let ports = [
        ("identity", free_port()),
        ("vault", free_port()),
        ("analytics", free_port()),
    ];
    let identity_url = format!("http://127.0.0.1:{}", ports[0].1);
    let env = vec![
        (
            "PASSERELLE_STORE".into(),
            format!("scylla://{cql}/{keyspace}"),
        ),
        ("PASSERELLE_BUS".into(), format!("kafka://{kafka}")),
        (
            "PASSERELLE_MASTER_KEY_FILE".into(),
            key.display().to_string(),
        ),
        ("PASSERELLE_PUBLIC_URL".into(), identity_url.clone()),
        (
            "PASSERELLE_ISSUER".into(),
            format!("{identity_url}/realms/passerelle"),
        ),
        ("PASSERELLE_BOOTSTRAP_ADMIN_PASSWORD".into(), SECRET.into()),
        (
            "PASSERELLE_STRUCTURES".into(),
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../deploy/structures.example.toml"
            )
            .into(),
        ),
        ("PASSERELLE_ARGON2_MEMORY_KIB".into(), "1024".into()),
        ("PASSERELLE_ARGON2_PASSES".into(), "1".into()),
        (
            "PASSERELLE_BLOBS".into(),
            format!("file://{}", dir.path().join("documents").display()),
        ),
    ];
    let platform = Arc::new(Platform {
        env,
        ports,
        children: Mutex::new(Vec::new()),
        logs: {
            // Kept after the run (under the build's directory) for whoever reads a failure.
            let logs = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(&keyspace);
            std::fs::create_dir_all(&logs).unwrap();
            logs
        },
    });
    for service in ["identity", "vault", "analytics"] {
        platform.spawn(service);
    }
    for service in ["identity", "vault", "analytics"] {
        platform.healthy(service).await;
    }
    let identity = lazy(platform.url("identity"));
    let vault = lazy(platform.url("vault"));
    let analytics = lazy(platform.url("analytics"));
    let admin = login(&identity, "admin").await;
    let mut as_admin = IdentityClient::with_interceptor(identity.clone(), bearer(&admin));
    let mut setup = |role: id::Role, name: &str| id::CreateAccountRequest {
        role: role as i32,
        username: name.into(),
        given_name: "Fault".into(),
        family_name: "Test".into(),
        secret: SECRET.into(),
        structure: "ccas-sud".into(),
        ..Default::default()
    };
    as_admin
        .create_account(setup(id::Role::Agent, "fault-agent"))
        .await
        .unwrap();
    let uploader = as_admin
        .create_account(setup(id::Role::Beneficiary, "fault-uploader"))
        .await
        .unwrap()
        .into_inner()
        .account
        .unwrap()
        .id;
    let _ = &mut setup;

    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let accounts = Arc::new(Mutex::new(Vec::new()));
    let documents = Arc::new(Mutex::new(Vec::new()));
    let surveys = Arc::new(Mutex::new(Vec::new()));
    let mut load = Vec::new();
    {
        let (identity, stop, errors, accounts) = (
            identity.clone(),
            stop.clone(),
            errors.clone(),
            accounts.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut token = login(&identity, "fault-agent").await;
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let name = format!("fault-person-{n}");
                let made = IdentityClient::with_interceptor(identity.clone(), bearer(&token))
                    .create_account(id::CreateAccountRequest {
                        role: id::Role::Beneficiary as i32,
                        username: name.clone(),
                        given_name: "Fault".into(),
                        family_name: "Person".into(),
                        secret: SECRET.into(),
                        ..Default::default()
                    })
                    .await;
                match made {
                    Ok(answer) => accounts
                        .lock()
                        .unwrap()
                        .push((name, answer.into_inner().account.unwrap().id)),
                    Err(status) => {
                        errors.fetch_add(1, Ordering::SeqCst);
                        if status.code() == tonic::Code::Unauthenticated {
                            token = login(&identity, "fault-agent").await;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }));
    }
    {
        let (identity, vault, stop, errors, documents, owner) = (
            identity.clone(),
            vault.clone(),
            stop.clone(),
            errors.clone(),
            documents.clone(),
            uploader.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut token = login(&identity, "fault-uploader").await;
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let bytes = pdf(300_000 + (n as usize % 3) * 100_000, n);
                let mut messages = vec![pb::UploadRequest {
                    part: Some(pb::upload_request::Part::Start(pb::UploadStart {
                        upload_id: uuid::Uuid::new_v4().to_string(),
                        owner_id: owner.clone(),
                        r#type: pb::DocumentType::Payslip as i32,
                        size_bytes: bytes.len() as i64,
                        ..Default::default()
                    })),
                }];
                messages.extend(bytes.chunks(64 * 1024).map(|c| pb::UploadRequest {
                    part: Some(pb::upload_request::Part::Chunk(c.to_vec())),
                }));
                match VaultClient::with_interceptor(vault.clone(), bearer(&token))
                    .upload(tokio_stream::iter(messages))
                    .await
                {
                    Ok(doc) => documents
                        .lock()
                        .unwrap()
                        .push((doc.into_inner().id, sha(&bytes))),
                    Err(status) => {
                        errors.fetch_add(1, Ordering::SeqCst);
                        if status.code() == tonic::Code::Unauthenticated {
                            token = login(&identity, "fault-uploader").await;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }));
    }
    {
        let (identity, analytics, stop, errors, surveys) = (
            identity.clone(),
            analytics.clone(),
            stop.clone(),
            errors.clone(),
            surveys.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut token = login(&identity, "fault-agent").await;
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let respondent = format!("FAULT-{n}");
                match AnalyticsClient::with_interceptor(analytics.clone(), bearer(&token))
                    .record_response(an::RecordResponseRequest {
                        answer: Some(survey(&respondent)),
                        beneficiary_id: String::new(),
                    })
                    .await
                {
                    Ok(_) => surveys.lock().unwrap().push(respondent),
                    Err(status) => {
                        errors.fetch_add(1, Ordering::SeqCst);
                        if status.code() == tonic::Code::Unauthenticated {
                            token = login(&identity, "fault-agent").await;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }));
    }

    // The faults, one after another, under the load.
    let mut log = Vec::new();
    let settle = || tokio::time::sleep(Duration::from_secs(4));
    settle().await;
    for service in ["vault", "identity", "analytics"] {
        platform.kill(service);
        log.push(format!("kill -9 {service}"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        platform.spawn(service);
        platform.healthy(service).await;
        settle().await;
    }
    for server in ["kafka", "cassandra"] {
        let started = Instant::now();
        servers("stop", server);
        tokio::time::sleep(Duration::from_secs(2)).await;
        servers("start", server);
        log.push(format!(
            "{server} restarted in {:.0} s",
            started.elapsed().as_secs_f64()
        ));
        for service in ["identity", "vault", "analytics"] {
            platform.healthy(service).await;
        }
        settle().await;
    }
    stop.store(true, Ordering::SeqCst);
    for task in load {
        task.await.unwrap();
    }

    // Every acknowledged write is there.
    let accounts = accounts.lock().unwrap().clone();
    let documents = documents.lock().unwrap().clone();
    let surveys = surveys.lock().unwrap().clone();
    assert!(!accounts.is_empty() && !documents.is_empty() && !surveys.is_empty());
    for (name, _) in &accounts {
        let _ = login(&identity, name).await;
    }
    let token = login(&identity, "fault-uploader").await;
    let mut own = VaultClient::with_interceptor(vault.clone(), bearer(&token));
    for (doc, hash) in &documents {
        let mut stream = own
            .download(pb::DownloadRequest {
                owner_id: uploader.clone(),
                document_id: doc.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("acknowledged document {doc} is gone: {e:?}"))
            .into_inner();
        let mut bytes = Vec::new();
        while let Some(message) = stream.message().await.unwrap() {
            if let Some(pb::download_response::Part::Chunk(chunk)) = message.part {
                bytes.extend(chunk);
            }
        }
        assert_eq!(
            &sha(&bytes),
            hash,
            "acknowledged document {doc} is not intact"
        );
    }
    let agent = login(&identity, "fault-agent").await;
    let mut advisor = AnalyticsClient::with_interceptor(analytics.clone(), bearer(&agent));
    for respondent in &surveys {
        let got = advisor
            .get_respondent(an::GetRespondentRequest {
                respondent_id: respondent.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("acknowledged survey {respondent} is gone: {e:?}"));
        assert_eq!(got.into_inner().surveys.len(), 1);
    }
    // No event lost: every acknowledged beneficiary got its vault, from `AccountCreated`.
    let store = passerelle_store::open(&format!("scylla://{cql}/{keyspace}"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut missing = accounts.len();
    while missing > 0 {
        missing = 0;
        for (_, account) in &accounts {
            if store
                .get("vault_keys", account, "")
                .await
                .unwrap()
                .is_none()
            {
                missing += 1;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} created accounts never got their vault: an event was lost",
            accounts.len()
        );
        if missing > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    println!(
        "faults: {}; acknowledged and found intact: {} accounts, {} documents, {} surveys; {} calls refused during the faults; every AccountCreated handled",
        log.join(", "),
        accounts.len(),
        documents.len(),
        surveys.len(),
        errors.load(Ordering::SeqCst)
    );
    drop(platform);
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(&cql)
        .build()
        .await;
    if let Ok(session) = session {
        let _ = session
            .query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), ())
            .await;
    }
}
