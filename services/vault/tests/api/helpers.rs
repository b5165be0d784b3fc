//! Spawning the vault and talking to it.

use std::sync::Arc;
use std::time::Duration;

use passerelle_access::{Consent, Mandate, Scope};
use passerelle_bus::DynBus;
use passerelle_kit::CancellationToken;
use passerelle_kit::clock::{DynClock, SystemClock};
use passerelle_kit::secrets::MasterKey;
use passerelle_kit::testing::{TestEngines, TestIssuer, serve_local};
use passerelle_proto::vault::v1 as pb;
use passerelle_proto::vault::v1::vault_client::VaultClient;
use passerelle_store::DynStore;
use passerelle_vault::service::Limits;
use passerelle_vault::{VaultConfig, service::Vault};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub use passerelle_kit::testing::Bearer;

pub type Client = VaultClient<InterceptedService<Channel, Bearer>>;

#[allow(dead_code)]
pub struct App {
    pub channel: Channel,
    pub store: DynStore,
    pub bus: DynBus,
    pub service: Vault,
    pub issuer: TestIssuer,
    pub blob_dir: std::path::PathBuf,
    pub shutdown: CancellationToken,
    _engines: TestEngines,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub const OWNER: &str = "owner-1";

pub fn limits() -> Limits {
    Limits::default()
}

pub async fn spawn_app() -> App {
    spawn_with(limits(), Arc::new(SystemClock)).await
}

pub async fn spawn_with(limits: Limits, clock: DynClock) -> App {
    spawn_on(limits, clock, None).await
}

/// A vault keeping bytes at `blobs_url` (default: a directory of the test).
pub async fn spawn_on(limits: Limits, clock: DynClock, blobs_url: Option<String>) -> App {
    let engines = TestEngines::new();
    let blob_dir = engines.dir.path().join("blobs");
    let issuer = TestIssuer::default();
    let config = VaultConfig {
        base: engines.base(Some(issuer.verifier()), clock),
        master_key: MasterKey::generate().unwrap(),
        blobs_url: blobs_url.unwrap_or_else(|| format!("file://{}", blob_dir.display())),
        limits,
        procedures_json: None,
        abandon_uploads_after: Duration::from_secs(86_400),
    };
    let shutdown = CancellationToken::new();
    let running = passerelle_vault::start(config, shutdown.clone())
        .await
        .unwrap();
    let service = running.service.clone();
    let (_, channel) = serve_local(running, &shutdown).await;
    App {
        channel,
        store: engines.store.clone(),
        bus: engines.bus.clone(),
        service,
        issuer,
        blob_dir,
        shutdown,
        _engines: engines,
    }
}

impl App {
    pub fn client(&self, token: Option<&str>) -> Client {
        VaultClient::with_interceptor(self.channel.clone(), Bearer(token.map(str::to_owned)))
            .max_decoding_message_size(4 * 1024 * 1024)
    }

    pub fn owner(&self) -> Client {
        self.client(Some(&self.issuer.token(OWNER, "beneficiary", None)))
    }

    pub fn agent(&self, structure: &str) -> Client {
        self.client(Some(&self.issuer.token(
            "agent-7",
            "agent",
            Some(structure),
        )))
    }

    /// Grants ccas-nord a mandate with `scopes` from the owner, straight into the store.
    pub async fn mandate(&self, scopes: &[Scope]) -> Mandate {
        let now = passerelle_kit::clock::Clock::now(&SystemClock);
        let mandate = Mandate::new(
            OWNER,
            "ccas-nord",
            scopes.iter().copied().collect(),
            Consent::SelfService,
            now,
            86_400,
        );
        self.store.batch(vec![mandate.mutation()]).await.unwrap();
        mandate
    }

    /// Publishes an identity event on the bus, as the identity service would.
    pub async fn identity_event(&self, event_type: &str, payload: &impl prost::Message) {
        let (_, record) = passerelle_bus::event::new_record("identity", event_type, OWNER, payload);
        self.bus.append(record).await.unwrap();
    }
}

/// A PDF-looking file of `len` bytes, different for each `seed`.
pub fn pdf(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    while bytes.len() < len {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

pub fn start(upload_id: &str, owner: &str, size: usize, offset: usize) -> pb::UploadStart {
    pb::UploadStart {
        upload_id: upload_id.into(),
        owner_id: owner.into(),
        r#type: pb::DocumentType::IdentityCard as i32,
        title: "Carte d'identité".into(),
        size_bytes: size as i64,
        offset: offset as i64,
        ..Default::default()
    }
}

/// The upload stream: the start, then the bytes in 64 KiB chunks.
pub fn upload_stream(
    start: pb::UploadStart,
    bytes: Vec<u8>,
) -> impl tokio_stream::Stream<Item = pb::UploadRequest> {
    let mut messages = vec![pb::UploadRequest {
        part: Some(pb::upload_request::Part::Start(start)),
    }];
    for chunk in bytes.chunks(64 * 1024) {
        messages.push(pb::UploadRequest {
            part: Some(pb::upload_request::Part::Chunk(chunk.to_vec())),
        });
    }
    tokio_stream::iter(messages)
}

pub async fn upload(
    client: &mut Client,
    start: pb::UploadStart,
    bytes: Vec<u8>,
) -> Result<pb::Document, tonic::Status> {
    client
        .upload(upload_stream(start, bytes))
        .await
        .map(|r| r.into_inner())
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Downloads a document: its bytes, and the error that ended the stream, if any.
pub async fn download(
    client: &mut Client,
    owner: &str,
    doc: &str,
) -> Result<(pb::Document, Vec<u8>, Option<tonic::Status>), tonic::Status> {
    let mut stream = client
        .download(pb::DownloadRequest {
            owner_id: owner.into(),
            document_id: doc.into(),
        })
        .await?
        .into_inner();
    collect(&mut stream).await
}

pub async fn collect(
    stream: &mut tonic::Streaming<pb::DownloadResponse>,
) -> Result<(pb::Document, Vec<u8>, Option<tonic::Status>), tonic::Status> {
    let first = stream.message().await?.expect("a document first");
    let Some(pb::download_response::Part::Document(doc)) = first.part else {
        panic!("not a document first")
    };
    let mut bytes = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(pb::DownloadResponse {
                part: Some(pb::download_response::Part::Chunk(chunk)),
            })) => bytes.extend(chunk),
            Ok(Some(_)) => panic!("a second document in the stream"),
            Ok(None) => return Ok((doc, bytes, None)),
            Err(status) => return Ok((doc, bytes, Some(status))),
        }
    }
}
