//! Document streaming through the vault (gRPC, encryption, hashing, storage) side by side with
//! a plain copy of the same bytes to and from the same disk — the physical limit — as a ratio;
//! and the peak memory of a 200 MB upload (the service and this client share the process, so
//! the figure bounds both).
#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passerelle_benchkit::section;
use passerelle_kit::CancellationToken;
use passerelle_kit::clock::SystemClock;
use passerelle_kit::secrets::MasterKey;
use passerelle_kit::testing::TestIssuer;
use passerelle_proto::vault::v1 as pb;
use passerelle_proto::vault::v1::vault_client::VaultClient;
use passerelle_vault::VaultConfig;
use passerelle_vault::service::Limits;

const MB: usize = 1_000_000;

/// Pseudo-random bytes in 256 KiB messages, made as they are needed, so the client holds one
/// message at a time.
fn chunks(size: usize, seed: u64) -> impl Iterator<Item = Vec<u8>> {
    let mut state = seed | 1;
    let mut sent = 0;
    std::iter::from_fn(move || {
        if sent >= size {
            return None;
        }
        let len = (size - sent).min(256 * 1024);
        let mut chunk = Vec::with_capacity(len);
        if sent == 0 {
            chunk.extend_from_slice(b"%PDF-1.7\n");
        }
        while chunk.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.extend_from_slice(&state.to_le_bytes());
        }
        chunk.truncate(len);
        sent += len;
        Some(chunk)
    })
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn mb_per_s(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / MB as f64 / elapsed.as_secs_f64()
}

fn main() {
    passerelle_benchkit::block_on(async {
        let engines = passerelle_kit::testing::TestEngines::new();
        let dir = &engines.dir;
        let issuer = TestIssuer::default();
        let config = VaultConfig {
            base: engines.base(Some(issuer.verifier()), Arc::new(SystemClock)),
            master_key: MasterKey::generate().unwrap(),
            blobs_url: format!("file://{}", dir.path().join("blobs").display()),
            limits: Limits {
                max_document_bytes: 300 * MB as u64,
                quota_bytes: 10_000 * MB as u64,
                ..Limits::default()
            },
            procedures_json: None,
            abandon_uploads_after: Duration::from_secs(86_400),
        };
        let shutdown = CancellationToken::new();
        let running = passerelle_vault::start(config, shutdown.clone())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(running.serve(listener, shutdown.clone()));
        // A client tuned as the web gateway will be: adaptive HTTP/2 windows.
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .http2_adaptive_window(true)
            .connect()
            .await
            .unwrap();
        let token: tonic::metadata::MetadataValue<_> =
            format!("Bearer {}", issuer.token("owner", "beneficiary", None))
                .parse()
                .unwrap();
        let mut client = VaultClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", token.clone());
            Ok(r)
        })
        .max_decoding_message_size(4 * 1024 * 1024);

        section("vault streaming vs a plain copy on the same disk (MB/s)");
        println!(
            "  {:<8} {:>12} {:>12} {:>8}   {:>12} {:>12} {:>8}",
            "size", "upload", "plain write", "ratio", "download", "plain read", "ratio"
        );
        for (size, seed) in [(MB, 1u64), (20 * MB, 2), (200 * MB, 3)] {
            if size == 200 * MB {
                reset_peak_rss();
            }
            let before = peak_rss_kib();
            let start = pb::UploadStart {
                upload_id: uuid::Uuid::new_v4().to_string(),
                owner_id: "owner".into(),
                r#type: pb::DocumentType::Other as i32,
                size_bytes: size as i64,
                ..Default::default()
            };
            let messages = std::iter::once(pb::UploadRequest {
                part: Some(pb::upload_request::Part::Start(start)),
            })
            .chain(chunks(size, seed).map(|c| pb::UploadRequest {
                part: Some(pb::upload_request::Part::Chunk(c)),
            }));
            let t = Instant::now();
            let doc = client
                .upload(tokio_stream::iter(messages))
                .await
                .unwrap()
                .into_inner();
            let upload = t.elapsed();
            let peak = peak_rss_kib();

            let t = Instant::now();
            let mut stream = client
                .download(pb::DownloadRequest {
                    owner_id: "owner".into(),
                    document_id: doc.id,
                })
                .await
                .unwrap()
                .into_inner();
            let mut received = 0;
            while let Some(message) = stream.message().await.unwrap() {
                if let Some(pb::download_response::Part::Chunk(c)) = message.part {
                    received += c.len();
                }
            }
            let download = t.elapsed();
            assert_eq!(received, size);

            // The physical limit: the same bytes written (and fsynced) and read back, plainly.
            let path = dir.path().join(format!("plain-{seed}"));
            let t = Instant::now();
            let mut file = std::fs::File::create(&path).unwrap();
            for chunk in chunks(size, seed) {
                file.write_all(&chunk).unwrap();
            }
            file.sync_all().unwrap();
            let write = t.elapsed();
            let t = Instant::now();
            let mut file = std::fs::File::open(&path).unwrap();
            let mut buffer = vec![0u8; 64 * 1024];
            while file.read(&mut buffer).unwrap() > 0 {}
            let read = t.elapsed();

            println!(
                "  {:<8} {:>12.1} {:>12.1} {:>7.2}x   {:>12.1} {:>12.1} {:>7.2}x",
                format!("{} MB", size / MB),
                mb_per_s(size, upload),
                mb_per_s(size, write),
                mb_per_s(size, upload) / mb_per_s(size, write),
                mb_per_s(size, download),
                mb_per_s(size, read),
                mb_per_s(size, download) / mb_per_s(size, read),
            );
            if size == 200 * MB {
                println!(
                    "  peak memory of the process during the 200 MB upload: {} MiB (before: {} MiB)",
                    peak / 1024,
                    before / 1024
                );
            }
        }
        // What the CPU allows on one core, for reading the figures above: every byte is hashed
        // (SHA-256, no SHA extensions on this machine) and sealed or opened (AES-256-GCM).
        let sample = chunks(64 * MB, 9).flatten().collect::<Vec<u8>>();
        let t = Instant::now();
        let _ = passerelle_vault::crypto::sha256_hex(&sample);
        let hashing = mb_per_s(sample.len(), t.elapsed());
        let key = passerelle_vault::crypto::DataKey::generate().unwrap();
        let t = Instant::now();
        for (i, part) in sample.chunks(passerelle_vault::crypto::PART).enumerate() {
            let _ =
                passerelle_vault::crypto::seal_part(&key, "bench", (i * 64) as u64, part, false);
        }
        let sealing = mb_per_s(sample.len(), t.elapsed());
        println!("  one core: SHA-256 {hashing:.0} MB/s, AES-256-GCM sealing {sealing:.0} MB/s");
        shutdown.cancel();
    });
}
