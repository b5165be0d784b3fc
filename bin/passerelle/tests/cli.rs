//! The `passerelle` binary as an operator runs it: started as a separate process, reached over
//! gRPC, stopped by signal.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use passerelle_kit::testing::bearer;
use passerelle_proto::platform::v1::InfoRequest;
use passerelle_proto::platform::v1::platform_client::PlatformClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

fn passerelle() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passerelle"));
    cmd.env_remove("PASSERELLE_STORE")
        .env_remove("PASSERELLE_BUS")
        .env_remove("PASSERELLE_LISTEN")
        .env("PASSERELLE_LOG", "warn");
    cmd
}

/// A running `passerelle up`, killed if the test ends early.
struct Up {
    child: Child,
    endpoints: Vec<(String, String)>,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_up(data: &std::path::Path, env: &[(&str, &str)]) -> Up {
    let mut child = passerelle()
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut endpoints = Vec::new();
    let header = lines.next().unwrap().unwrap();
    assert!(header.starts_with("Passerelle "), "{header}");
    assert!(header.contains("store: sqlite://"), "{header}");
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("Press Ctrl-C") {
            break;
        }
        let mut parts = line.split_whitespace();
        endpoints.push((
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        ));
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Up { child, endpoints }
}

async fn channel(addr: String) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(addr)
        .unwrap()
        .connect()
        .await
        .unwrap()
}
async fn login(identity: &tonic::transport::Channel, username: &str, secret: &str) -> String {
    passerelle_proto::identity::v1::identity_client::IdentityClient::new(identity.clone())
        .login(passerelle_proto::identity::v1::LoginRequest {
            username: username.into(),
            secret: secret.into(),
        })
        .await
        .unwrap_or_else(|e| panic!("login of {username}: {e:?}"))
        .into_inner()
        .access_token
}
/// A PDF-looking file of `len` bytes, different for each `seed`.
fn file_of(seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes
}
fn sha(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

fn address(up: &Up, service: &str) -> String {
    let (_, addr) = up
        .endpoints
        .iter()
        .find(|(name, _)| name == service)
        .unwrap_or_else(|| panic!("{service} is not listed in {:?}", up.endpoints));
    format!("http://{addr}")
}

#[tokio::test]
async fn up_serves_health_reflection_and_info_then_stops_on_signal() {
    let data = tempfile::tempdir().unwrap();
    let mut up = start_up(data.path(), &[]);
    let addr = address(&up, "platform");

    let channel = tonic::transport::Endpoint::from_shared(addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "passerelle.platform.v1.Platform"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(
            status,
            ServingStatus::Serving as i32,
            "health of `{service}`"
        );
    }

    let mut reflection = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a service list: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in ["passerelle.platform.v1.Platform", "grpc.health.v1.Health"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }

    let info = PlatformClient::new(channel)
        .info(InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        (info.store_engine.as_str(), info.bus_engine.as_str()),
        ("sqlite", "sqlite")
    );
    // Every service of the platform runs and answers its health check.
    let names: Vec<&str> = info.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "platform",
            "identity",
            "vault",
            "directory",
            "analytics",
            "gateway",
            "alerts"
        ]
    );
    // The web front answers over HTTP.
    let web = address(&up, "gateway").replace("http://http://", "http://");
    let sante = tokio::task::spawn_blocking(move || {
        let addr = web.trim_start_matches("http://").to_owned();
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        use std::io::{Read as _, Write as _};
        write!(
            stream,
            "GET /sante HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    })
    .await
    .unwrap();
    assert!(sante.starts_with("HTTP/1.1 200"), "{sante}");
    for service in info.services.iter().filter(|s| s.name != "gateway") {
        let channel = tonic::transport::Endpoint::from_shared(address(&up, &service.name))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let status = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{}", service.name);
    }

    // Ctrl-C: a clean stop, exit code 0.
    let status = Command::new("kill")
        .args(["-INT", &up.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(exit) = up.child.try_wait().unwrap() {
            assert!(exit.success(), "passerelle up exited with {exit}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "passerelle up did not stop within 20s of Ctrl-C"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `passerelle` with `args` and returns (success, stderr).
fn run(args: &[&str]) -> (bool, String) {
    let data = tempfile::tempdir().unwrap();
    let output = passerelle()
        .args(args)
        .arg("--data-dir")
        .arg(data.path())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn up_gives_a_fresh_data_directory_the_example_structures_and_an_older_one_none() {
    let wait_for = |path: &std::path::Path| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !path.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let fresh = tempfile::tempdir().unwrap();
    let up = start_up(fresh.path(), &[]);
    let written = fresh.path().join("structures.toml");
    wait_for(&fresh.path().join("master.key"));
    assert_eq!(
        std::fs::read_to_string(&written).unwrap(),
        passerelle_identity::config::EXAMPLE_STRUCTURES,
        "a first run writes the example registry, to edit"
    );
    drop(up);

    // A data directory from before the registry: its accounts name its own structures, so no
    // example city is made up for it.
    let older = tempfile::tempdir().unwrap();
    std::fs::write(older.path().join("store.db"), b"").unwrap();
    let up = start_up(older.path(), &[]);
    wait_for(&older.path().join("master.key"));
    assert!(!older.path().join("structures.toml").exists());
    drop(up);
}

#[test]
fn bad_engine_urls_fail_with_one_line_naming_the_problem() {
    for (args, expected) in [
        (
            vec!["up", "--store", "postgres://db/x"],
            vec![
                "invalid store URL `postgres://db/x`",
                "unknown scheme",
                "expected sqlite://PATH or scylla://",
            ],
        ),
        (
            vec!["up", "--store", "scylla://db:90x/ks"],
            vec!["invalid store URL", "port `90x` is not a number"],
        ),
        (
            vec!["up", "--bus", "kafka://broker"],
            vec![
                "invalid bus URL `kafka://broker`",
                "has no port",
                "expected sqlite://PATH or kafka://",
            ],
        ),
        (
            vec!["up", "--bus", "kafka://127.0.0.1:1"],
            vec![
                "cannot reach the kafka bus at 127.0.0.1:1",
                "expected a running Kafka broker",
            ],
        ),
        (
            vec!["up", "--store", "scylla://127.0.0.1:1/passerelle"],
            vec![
                "cannot reach the scylla store at 127.0.0.1:1",
                "expected a running CQL node",
            ],
        ),
    ] {
        let (ok, stderr) = run(&args);
        assert!(!ok, "{args:?} succeeded");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(
            lines.len(),
            1,
            "{args:?} printed more than one line:\n{stderr}"
        );
        assert!(lines[0].starts_with("error: "), "{stderr}");
        for part in expected {
            assert!(
                stderr.contains(part),
                "{args:?}: `{part}` missing from: {stderr}"
            );
        }
    }
}

/// kill -9 in the middle of a burst of appends loses no append the process acknowledged.
#[test]
fn a_killed_appender_loses_no_acknowledged_record() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", data.path().join("bus.db").display());
    let mut child = passerelle()
        .args([
            "bus", "append", "--bus", &url, "--topic", "burst", "--count", "100000",
        ])
        .args(["--concurrency", "32", "--payload-bytes", "200"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some("acked"), "{line}");
        let partition: i32 = parts.next().unwrap().parse().unwrap();
        let offset: i64 = parts.next().unwrap().parse().unwrap();
        acked.push((partition, offset, parts.next().unwrap().to_owned()));
        if acked.len() == 2_000 {
            child.kill().unwrap(); // SIGKILL: no destructor, no flush, no goodbye.
            break;
        }
    }
    child.wait().unwrap();
    assert_eq!(acked.len(), 2_000, "the appender ended before the kill");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let bus = passerelle_bus::open(&url).await.unwrap();
        let mut consumer = bus.subscribe("verify", &["burst"]).await.unwrap();
        let mut stored = std::collections::HashMap::new();
        loop {
            let got = consumer
                .poll(1000, Duration::from_millis(500))
                .await
                .unwrap();
            if got.is_empty() {
                break;
            }
            for d in got {
                stored.insert((d.partition, d.offset), (d.key, d.payload));
            }
        }
        assert!(
            stored.len() >= acked.len(),
            "{} stored, {} acknowledged",
            stored.len(),
            acked.len()
        );
        for (partition, offset, key) in &acked {
            let (stored_key, payload) = stored
                .get(&(*partition, *offset))
                .unwrap_or_else(|| panic!("acknowledged {key} at {partition}/{offset} is lost"));
            assert_eq!(stored_key, key);
            assert_eq!(
                payload,
                &passerelle::tools::bus::synthetic_payload(key, 200)
            );
        }
    });
}

/// kill -9 of `passerelle up` in the middle of a burst of account creations: after a restart,
/// every account the platform acknowledged is there, and so is its `AccountCreated` event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_platform_loses_no_acknowledged_account_nor_its_event() {
    use passerelle_proto::identity::v1 as pb;
    use passerelle_proto::identity::v1::identity_client::IdentityClient;
    use prost::Message as _;

    let data = tempfile::tempdir().unwrap();
    let env = [
        ("PASSERELLE_BOOTSTRAP_ADMIN_PASSWORD", "an admin passphrase"),
        // Cheap hashes: this test is about durability, not hashing cost.
        ("PASSERELLE_ARGON2_MEMORY_KIB", "1024"),
        ("PASSERELLE_ARGON2_PASSES", "1"),
    ];
    async fn admin_client(
        identity: String,
    ) -> IdentityClient<
        tonic::service::interceptor::InterceptedService<
            tonic::transport::Channel,
            impl tonic::service::Interceptor + Clone,
        >,
    > {
        let channel = tonic::transport::Endpoint::from_shared(identity)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let token = IdentityClient::new(channel.clone())
            .login(pb::LoginRequest {
                username: "admin".into(),
                secret: "an admin passphrase".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .access_token;
        let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        IdentityClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
            Ok(request)
        })
    }

    let mut up = start_up(data.path(), &env);
    let client = admin_client(address(&up, "identity")).await;
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    for _ in 0..16 {
        let (mut client, acked_tx, next) = (client.clone(), acked_tx.clone(), next.clone());
        tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let request = pb::CreateAccountRequest {
                    role: pb::Role::Agent as i32,
                    username: format!("burst-{n}"),
                    given_name: "Burst".into(),
                    family_name: format!("Number {n}"),
                    secret: "burst passphrase".into(),
                    structure: "ccas-nord".into(),
                    ..Default::default()
                };
                match client.create_account(request).await {
                    Ok(response) => {
                        let account = response.into_inner().account.unwrap();
                        if acked_tx.send((account.id, account.username)).is_err() {
                            return;
                        }
                    }
                    Err(_) => return, // the platform is gone
                }
            }
        });
    }
    drop(acked_tx);
    let mut acked = Vec::new();
    while acked.len() < 150 {
        acked.push(acked_rx.recv().await.expect("the burst stopped early"));
    }
    up.child.kill().unwrap(); // SIGKILL, mid-burst
    up.child.wait().unwrap();
    while let Ok(more) = acked_rx.try_recv() {
        acked.push(more);
    }

    let up = start_up(data.path(), &env);
    let mut client = admin_client(address(&up, "identity")).await;
    for (id, username) in &acked {
        let account = client
            .get_account(pb::GetAccountRequest {
                account_id: id.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("acknowledged account {username} is lost: {e:?}"))
            .into_inner();
        assert_eq!(&account.username, username);
    }

    // Every acknowledged account's event leaves the outbox, even those the kill caught.
    let bus = passerelle_bus::open(&format!(
        "sqlite://{}",
        data.path().join("bus.db").display()
    ))
    .await
    .unwrap();
    let mut consumer = bus
        .subscribe("durability-check", &["passerelle.identity"])
        .await
        .unwrap();
    let mut announced = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.iter().any(|(id, _)| !announced.contains(id)) {
        assert!(
            Instant::now() < deadline,
            "{} acknowledged accounts have no AccountCreated event",
            acked
                .iter()
                .filter(|(id, _)| !announced.contains(id))
                .count()
        );
        for delivery in consumer
            .poll(500, Duration::from_millis(500))
            .await
            .unwrap()
        {
            let envelope = passerelle_bus::event::decode(&delivery).unwrap();
            if envelope.event_type == "passerelle.events.v1.AccountCreated" {
                let created = passerelle_proto::events::v1::AccountCreated::decode(
                    envelope.payload.as_slice(),
                )
                .unwrap();
                announced.insert(created.account_id);
            }
        }
    }
}

/// kill -9 of `passerelle up` during 100 concurrent uploads: after a restart every
/// acknowledged document reads back intact, no partial document is visible, and the clean-up
/// pass leaves no orphan bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_vault_keeps_every_acknowledged_document_intact() {
    use passerelle_proto::identity::v1 as id;
    use passerelle_proto::identity::v1::identity_client::IdentityClient;
    use passerelle_proto::vault::v1 as pb;
    use passerelle_proto::vault::v1::vault_client::VaultClient;

    let data = tempfile::tempdir().unwrap();
    let env = [
        ("PASSERELLE_BOOTSTRAP_ADMIN_PASSWORD", "an admin passphrase"),
        ("PASSERELLE_ARGON2_MEMORY_KIB", "1024"),
        ("PASSERELLE_ARGON2_PASSES", "1"),
        // One person's 100 uploads at once: this test is about durability, not the limits.
        ("PASSERELLE_MAX_TRANSFERS", "128"),
        ("PASSERELLE_MAX_TRANSFERS_PER_CALLER", "128"),
    ];
    let mut up = start_up(data.path(), &env);
    let identity = channel(address(&up, "identity")).await;
    let admin = login(&identity, "admin", "an admin passphrase").await;
    let mut as_admin = IdentityClient::with_interceptor(identity.clone(), bearer(&admin));
    let account = |role: id::Role, name: &str| id::CreateAccountRequest {
        role: role as i32,
        username: name.into(),
        given_name: "Test".into(),
        family_name: "Person".into(),
        secret: "a test passphrase".into(),
        structure: "ccas-nord".into(),
        ..Default::default()
    };
    as_admin
        .create_account(account(id::Role::Agent, "agent-nord"))
        .await
        .unwrap();
    let agent = login(&identity, "agent-nord", "a test passphrase").await;
    let owner = IdentityClient::with_interceptor(identity.clone(), bearer(&agent))
        .create_account(account(id::Role::Beneficiary, "owner-person"))
        .await
        .unwrap()
        .into_inner()
        .account
        .unwrap()
        .id;
    let token = login(&identity, "owner-person", "a test passphrase").await;

    let vault = VaultClient::with_interceptor(channel(address(&up, "vault")).await, bearer(&token));
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    for seed in 0..100u64 {
        let (mut vault, acked_tx, owner) = (vault.clone(), acked_tx.clone(), owner.clone());
        tokio::spawn(async move {
            let bytes = file_of(seed, 1_200_000);
            let start = pb::UploadStart {
                upload_id: uuid::Uuid::new_v4().to_string(),
                owner_id: owner,
                r#type: pb::DocumentType::Payslip as i32,
                title: format!("payslip {seed}"),
                size_bytes: bytes.len() as i64,
                ..Default::default()
            };
            let mut messages = vec![pb::UploadRequest {
                part: Some(pb::upload_request::Part::Start(start)),
            }];
            messages.extend(bytes.chunks(64 * 1024).map(|c| pb::UploadRequest {
                part: Some(pb::upload_request::Part::Chunk(c.to_vec())),
            }));
            if let Ok(doc) = vault.upload(tokio_stream::iter(messages)).await {
                let _ = acked_tx.send((doc.into_inner().id, sha(&bytes)));
            }
        });
    }
    drop(acked_tx);
    let mut acked = Vec::new();
    while acked.len() < 30 {
        acked.push(acked_rx.recv().await.expect("the uploads stopped early"));
    }
    up.child.kill().unwrap(); // SIGKILL, uploads in flight
    up.child.wait().unwrap();
    while let Ok(more) = acked_rx.try_recv() {
        acked.push(more);
    }
    assert!(
        acked.len() < 100,
        "all uploads finished before the kill: the test proves nothing"
    );

    let up = start_up(data.path(), &env);
    let identity = channel(address(&up, "identity")).await;
    let token = login(&identity, "owner-person", "a test passphrase").await;
    let mut vault =
        VaultClient::with_interceptor(channel(address(&up, "vault")).await, bearer(&token));
    let download = |vault: &mut VaultClient<_>, doc: String| {
        let request = pb::DownloadRequest {
            owner_id: owner.clone(),
            document_id: doc,
        };
        let mut vault = vault.clone();
        async move {
            let mut stream = vault.download(request).await.unwrap().into_inner();
            let mut bytes = Vec::new();
            while let Some(message) = stream.message().await.unwrap() {
                if let Some(pb::download_response::Part::Chunk(chunk)) = message.part {
                    bytes.extend(chunk);
                }
            }
            bytes
        }
    };
    for (doc, hash) in &acked {
        let bytes = download(&mut vault, doc.clone()).await;
        assert_eq!(
            &sha(&bytes),
            hash,
            "acknowledged document {doc} is not intact"
        );
    }
    let listed = vault
        .list_documents(pb::ListDocumentsRequest {
            owner_id: owner.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .documents;
    assert!(listed.len() >= acked.len());
    for doc in &listed {
        let bytes = download(&mut vault, doc.id.clone()).await;
        assert_eq!(
            bytes.len() as i64,
            doc.size_bytes,
            "document {} is visible but partial",
            doc.id
        );
    }

    std::thread::sleep(Duration::from_millis(1100));
    let cleanup = passerelle()
        .args(["vault", "cleanup", "--older-than", "0s", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(
        cleanup.status.success(),
        "{}",
        String::from_utf8_lossy(&cleanup.stderr)
    );
    let stored: std::collections::BTreeSet<String> =
        std::fs::read_dir(data.path().join(format!("documents/docs/{owner}")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    let visible: std::collections::BTreeSet<String> = listed.iter().map(|d| d.id.clone()).collect();
    assert_eq!(
        stored, visible,
        "bytes without a document survived the clean-up"
    );
}

/// `passerelle directory import` reports what it did, row by row, and `export` writes it back.
#[test]
fn the_directory_import_command_reports_merges_and_rejections() {
    let data = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../services/directory/tests/data");
    let run = |args: &[&str]| {
        let output = passerelle()
            .args(args)
            .arg("--data-dir")
            .arg(data.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let clean = fixtures.join("lieux-amiens.csv");
    let summary = run(&["directory", "import", clean.to_str().unwrap()]);
    assert!(
        summary.contains("10 imported, 0 updated, 0 merged, 0 rejected"),
        "{summary}"
    );
    let messy = fixtures.join("lieux-messy.csv");
    let summary = run(&[
        "directory",
        "import",
        messy.to_str().unwrap(),
        "--source",
        "test",
    ]);
    assert!(
        summary.contains("6 imported, 0 updated, 0 merged, 2 rejected, 3 warnings"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "warning  line 7: latitude `2.2990, 49.8930`: had latitude and longitude swapped: put back"
        ),
        "{summary}"
    );

    let out = data.path().join("export.geojson");
    let written = run(&["directory", "export", out.to_str().unwrap()]);
    assert!(written.contains("16 places"), "{written}");
    let geojson: serde_json::Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    assert_eq!(geojson["features"].as_array().unwrap().len(), 16);

    let bad = passerelle()
        .args(["directory", "import", "places.xlsx", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("format `xlsx` is not known: expected csv, json, geojson or data-inclusion")
    );
}

/// `passerelle survey import` reports what it kept and refused; a second import adds nothing;
/// `survey report` writes the dashboard tables with the published figures.
#[test]
fn the_survey_commands_import_then_write_the_dashboard_tables() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = passerelle()
            .args(args)
            .arg("--data-dir")
            .arg(data.path())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let survey = data.path().join("ccas.csv");
    passerelle_analytics::synthetic::write_csv(&survey, 2_000, 9).unwrap();
    let mut text = std::fs::read_to_string(&survey).unwrap();
    text.push_str(
        "R-bad,2026-02-30,nord,40-59,yes,yes,yes,alone,alone,alone,alone,alone,alone,alone,alone\n",
    );
    std::fs::write(&survey, text).unwrap();

    let (ok, summary, err) = run(&["survey", "import", survey.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        summary.contains("2001 rows, 2000 imported, 0 updated, 0 already there, 1 rejected"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "rejected line 2002, surveyed_on `2026-02-30`: expected a date as YYYY-MM-DD"
        ),
        "{summary}"
    );
    let (ok, summary, _) = run(&["survey", "import", survey.to_str().unwrap()]);
    assert!(ok);
    assert!(
        summary.contains("0 imported, 0 updated, 2000 already there"),
        "{summary}"
    );

    let out = data.path().join("tables");
    let (ok, summary, err) = run(&["survey", "report", "--out", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(summary.contains("2000 answers"), "{summary}");
    for file in [
        "indicators.csv",
        "indicators.parquet",
        "progress.csv",
        "progress.parquet",
    ] {
        assert!(out.join(file).is_file(), "{file} missing: {summary}");
    }
    let indicators = std::fs::read_to_string(out.join("indicators.csv")).unwrap();
    let header: Vec<&str> = indicators.lines().next().unwrap().split(',').collect();
    let all: Vec<&str> = indicators
        .lines()
        .find(|l| l.starts_with("all,"))
        .unwrap()
        .split(',')
        .collect();
    let value = |name: &str| all[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(value("cannot_file_taxes_online"), "70.0");
    assert_eq!(value("no_online_formality"), "36.0");

    let (ok, _, err) = run(&[
        "survey",
        "report",
        "--out",
        out.to_str().unwrap(),
        "--period",
        "week",
    ]);
    assert!(!ok);
    assert!(
        err.contains("period `week` is not known: expected month, quarter or year"),
        "{err}"
    );
    let (ok, _, err) = run(&["survey", "import", "missing.csv"]);
    assert!(!ok);
    assert!(err.contains("missing.csv: no such file"), "{err}");
}

/// Peak resident memory of a process, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Login needs no token, and each check holds 19 MiB for its whole run: a burst of a thousand
/// sign-ins, from a thousand addresses (behind a trusted proxy, so the per-source throttle lets
/// each through) over twenty connections, must cost the hashing budget, not a thousand hashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_logins_at_once_keep_memory_within_the_hashing_budget() {
    use passerelle_proto::identity::v1 as pb;
    use passerelle_proto::identity::v1::identity_client::IdentityClient;

    /// Beyond its memory at rest, what `up` may take: the hashing budget (64 MiB: three
    /// hashing threads' memory, made as the load asks) and 16 MiB for a thousand requests in
    /// flight. Without the bound, each of up to 512 hashes in flight holds 19 MiB, and freed
    /// ones stay in the allocator: gigabytes.
    const BOUND_MIB: u64 = 64 + 16;
    let data = tempfile::tempdir().unwrap();
    let up = start_up(
        data.path(),
        &[
            ("PASSERELLE_BOOTSTRAP_ADMIN_PASSWORD", "an admin passphrase"),
            ("PASSERELLE_ARGON2_BUDGET_MIB", "64"),
            ("PASSERELLE_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    );
    let pid = up.child.id();
    let mut channels = Vec::new();
    for _ in 0..20 {
        channels.push(
            tonic::transport::Endpoint::from_shared(address(&up, "identity"))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    // One sign-in first, so what is measured is the burst, not start-up.
    IdentityClient::new(channels[0].clone())
        .login(pb::LoginRequest {
            username: "admin".into(),
            secret: "an admin passphrase".into(),
        })
        .await
        .unwrap();
    let at_rest = peak_rss_kib(pid);
    let calls = (0..1000u32).map(|i| {
        let mut client = IdentityClient::new(channels[i as usize % channels.len()].clone());
        let mut request = tonic::Request::new(pb::LoginRequest {
            username: format!("soleil-lavande-{i:04}"),
            secret: "a wrong passphrase".into(),
        });
        request.metadata_mut().insert(
            "x-forwarded-for",
            format!("198.51.{}.{}", i / 250, i % 250 + 1)
                .parse()
                .unwrap(),
        );
        async move { client.login(request).await }
    });
    let results = futures::future::join_all(calls).await;
    let (mut wrong, mut shed) = (0, 0);
    for result in &results {
        match result {
            Err(s) if s.code() == tonic::Code::Unauthenticated => wrong += 1,
            Err(s) if s.code() == tonic::Code::Unavailable => shed += 1,
            other => panic!("unexpected answer: {other:?}"),
        }
    }
    let peak = peak_rss_kib(pid);
    println!(
        "1000 logins: {wrong} checked, {shed} shed; peak RSS {} MiB (at rest {} MiB)",
        peak / 1024,
        at_rest / 1024
    );
    assert!(wrong > 0 && shed > 0, "{wrong} checked, {shed} shed");
    assert!(
        peak < at_rest + BOUND_MIB * 1024,
        "peak RSS {} MiB over {} MiB at rest + {BOUND_MIB} MiB",
        peak / 1024,
        at_rest / 1024
    );
}

/// The restore drill: back up a running platform, erase an account after the backup, restore
/// on a fresh data directory — every document of the others comes back byte-identical, the
/// erased person's account and vault stay gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_backup_gives_every_document_back_and_keeps_erasures() {
    use passerelle_proto::identity::v1 as id;
    use passerelle_proto::identity::v1::identity_client::IdentityClient;
    use passerelle_proto::vault::v1 as pb;
    use passerelle_proto::vault::v1::vault_client::VaultClient;

    let env = [
        ("PASSERELLE_BOOTSTRAP_ADMIN_PASSWORD", "an admin passphrase"),
        ("PASSERELLE_ARGON2_MEMORY_KIB", "1024"),
        ("PASSERELLE_ARGON2_PASSES", "1"),
    ];
    let (old, fresh, backups) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let backup_dir = backups.path().join("2026-12-01");
    let mut up = start_up(old.path(), &env);
    let identity = channel(address(&up, "identity")).await;
    let vault_channel = channel(address(&up, "vault")).await;
    let admin = login(&identity, "admin", "an admin passphrase").await;
    let mut people = Vec::new();
    for name in ["kept-person", "erased-person"] {
        let account = IdentityClient::with_interceptor(identity.clone(), bearer(&admin))
            .create_account(id::CreateAccountRequest {
                role: id::Role::Beneficiary as i32,
                username: name.into(),
                given_name: "Test".into(),
                family_name: "Person".into(),
                secret: "a test passphrase".into(),
                structure: "ccas-nord".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .account
            .unwrap();
        let token = login(&identity, name, "a test passphrase").await;
        let mut vault = VaultClient::with_interceptor(vault_channel.clone(), bearer(&token));
        let mut docs = Vec::new();
        // One small document and one of several parts.
        for (seed, len) in [(1u64, 300_000usize), (2, 9_500_000)] {
            let bytes = file_of(seed + people.len() as u64 * 10, len);
            let mut messages = vec![pb::UploadRequest {
                part: Some(pb::upload_request::Part::Start(pb::UploadStart {
                    upload_id: uuid::Uuid::new_v4().to_string(),
                    owner_id: account.id.clone(),
                    r#type: pb::DocumentType::IdentityCard as i32,
                    title: format!("papers {seed}"),
                    size_bytes: bytes.len() as i64,
                    ..Default::default()
                })),
            }];
            messages.extend(bytes.chunks(64 * 1024).map(|c| pb::UploadRequest {
                part: Some(pb::upload_request::Part::Chunk(c.to_vec())),
            }));
            let doc = vault
                .upload(tokio_stream::iter(messages))
                .await
                .unwrap()
                .into_inner();
            docs.push((doc.id, sha(&bytes)));
        }
        people.push((name, account.id, token, docs));
    }

    // Online: the platform keeps running while the backup is taken.
    let backup = passerelle()
        .args(["backup"])
        .arg(&backup_dir)
        .arg("--data-dir")
        .arg(old.path())
        .output()
        .unwrap();
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert!(String::from_utf8_lossy(&backup.stdout).contains("4 documents"));
    assert!(
        !backup_dir.join("master.key").exists(),
        "the master key must never be in a backup"
    );

    // After the backup, the second person erases their account.
    let (_, erased_id, erased_token, _) = &people[1];
    IdentityClient::with_interceptor(identity.clone(), bearer(erased_token))
        .erase_account(id::EraseAccountRequest {
            account_id: erased_id.clone(),
        })
        .await
        .unwrap();
    up.child.kill().unwrap();
    up.child.wait().unwrap();

    // A fresh machine: the master key (kept apart), then the backup and the journal.
    std::fs::copy(
        old.path().join("master.key"),
        fresh.path().join("master.key"),
    )
    .unwrap();
    let restore = passerelle()
        .args(["restore"])
        .arg(&backup_dir)
        .arg("--data-dir")
        .arg(fresh.path())
        .arg("--erasures")
        .arg(old.path().join("erasures.journal"))
        .output()
        .unwrap();
    assert!(
        restore.status.success(),
        "{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    assert!(String::from_utf8_lossy(&restore.stdout).contains("1 erasures re-applied"));
    // Restoring over a platform is refused.
    let again = passerelle()
        .args(["restore"])
        .arg(&backup_dir)
        .arg("--data-dir")
        .arg(fresh.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a platform"));

    let up = start_up(fresh.path(), &env);
    let identity = channel(address(&up, "identity")).await;
    let vault_channel = channel(address(&up, "vault")).await;
    let (kept_name, kept_id, _, kept_docs) = &people[0];
    let token = login(&identity, kept_name, "a test passphrase").await;
    let mut vault = VaultClient::with_interceptor(vault_channel.clone(), bearer(&token));
    for (doc, hash) in kept_docs {
        let mut stream = vault
            .download(pb::DownloadRequest {
                owner_id: kept_id.clone(),
                document_id: doc.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let mut bytes = Vec::new();
        while let Some(message) = stream.message().await.unwrap() {
            if let Some(pb::download_response::Part::Chunk(chunk)) = message.part {
                bytes.extend(chunk);
            }
        }
        assert_eq!(&sha(&bytes), hash, "document {doc} is not byte-identical");
    }
    let gone = IdentityClient::new(identity.clone())
        .login(id::LoginRequest {
            username: "erased-person".into(),
            secret: "a test passphrase".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        gone.code(),
        tonic::Code::Unauthenticated,
        "the erased account came back"
    );
    // Their vault key and document rows go too, on the re-sent erasure.
    let store = fresh.path().join("store.db");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let keys = passerelle_store::sqlite::table_rows(&store, "vault_keys").unwrap();
        let docs = passerelle_store::sqlite::table_rows(&store, "documents").unwrap();
        let left = keys
            .iter()
            .chain(&docs)
            .any(|(owner, _, _)| owner == erased_id);
        if !left {
            assert!(keys.iter().any(|(owner, _, _)| owner == kept_id));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the erased vault came back with the restore"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each service takes the options every service has and its own, no other: a setting meant
/// for another service is refused with the reason, not silently ignored.
#[test]
fn serve_refuses_another_services_options() {
    let refused = passerelle()
        .args(["serve", "directory", "--argon2-passes", "9"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--argon2-passes"), "{stderr}");
    assert!(stderr.contains("unexpected argument"), "{stderr}");

    let help = |service: &str| {
        let out = passerelle()
            .args(["serve", service, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let identity = help("identity");
    assert!(identity.contains("--argon2-passes") && identity.contains("--master-key-file"));
    assert!(!identity.contains("--blobs"), "{identity}");
    let vault = help("vault");
    assert!(vault.contains("--blobs") && vault.contains("--master-key-file"));
    assert!(!vault.contains("--argon2"), "{vault}");
    let alerts = help("alerts");
    assert!(alerts.contains("--sectors") && alerts.contains("--store"));
    assert!(!alerts.contains("--master-key-file"), "{alerts}");
    let directory = help("directory");
    assert!(directory.contains("--store") && directory.contains("--issuer"));
    assert!(!directory.contains("--master-key-file") && !directory.contains("--rules-file"));
}
