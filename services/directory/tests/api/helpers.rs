//! Spawning the directory and talking to it.

use std::sync::Arc;

use passerelle_bus::DynBus;
use passerelle_directory::DirectoryConfig;
use passerelle_directory::service::Directory;
use passerelle_kit::CancellationToken;
use passerelle_kit::clock::SystemClock;
use passerelle_kit::testing::{Bearer, TestEngines, TestIssuer, serve_local};
use passerelle_proto::directory::v1 as pb;
use passerelle_proto::directory::v1::directory_client::DirectoryClient;
use passerelle_store::DynStore;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub type Client = DirectoryClient<InterceptedService<Channel, Bearer>>;

#[allow(dead_code)]
pub struct App {
    pub channel: Channel,
    pub store: DynStore,
    pub bus: DynBus,
    pub service: Directory,
    pub issuer: TestIssuer,
    pub shutdown: CancellationToken,
    _engines: TestEngines,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_app() -> App {
    let engines = TestEngines::new();
    let issuer = TestIssuer::default();
    let shutdown = CancellationToken::new();
    let config = DirectoryConfig {
        base: engines.base(Some(issuer.verifier()), Arc::new(SystemClock)),
        replica: "test".into(),
    };
    let running = passerelle_directory::start(config, shutdown.clone())
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
        shutdown,
        _engines: engines,
    }
}

impl App {
    pub fn client(&self, token: Option<&str>) -> Client {
        DirectoryClient::with_interceptor(self.channel.clone(), Bearer(token.map(str::to_owned)))
            .max_decoding_message_size(16 * 1024 * 1024)
    }

    pub fn agent(&self) -> Client {
        self.client(Some(&self.issuer.token(
            "agent-1",
            "agent",
            Some("ccas-nord"),
        )))
    }

    /// A manager of ccas-nord: imports places (which ccas-nord then keeps).
    pub fn manager(&self) -> Client {
        self.client(Some(&self.issuer.token(
            "manager-1",
            "manager",
            Some("ccas-nord"),
        )))
    }

    pub async fn import(
        &self,
        format: pb::Format,
        bytes: Vec<u8>,
    ) -> Result<pb::ImportReport, tonic::Status> {
        self.import_as(self.manager(), format, bytes).await
    }

    pub async fn import_as(
        &self,
        mut client: Client,
        format: pb::Format,
        bytes: Vec<u8>,
    ) -> Result<pb::ImportReport, tonic::Status> {
        let messages = vec![pb::ImportPlacesRequest {
            format: format as i32,
            source: String::new(),
            chunk: bytes,
        }];
        client
            .import_places(tokio_stream::iter(messages))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn export(&self, format: pb::Format) -> Vec<u8> {
        let mut stream = self
            .client(None)
            .export_places(pb::ExportPlacesRequest {
                format: format as i32,
            })
            .await
            .unwrap()
            .into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.message().await.unwrap() {
            bytes.extend(chunk.chunk);
        }
        bytes
    }
}

pub fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}
