//! Spawning the analytics service (and a directory beside it) and talking to them.

use std::sync::Arc;

use passerelle_access::{Consent, Mandate, Scope};
use passerelle_analytics::AnalyticsConfig;
use passerelle_analytics::rules::Rules;
use passerelle_analytics::service::Analytics;
use passerelle_bus::DynBus;
use passerelle_bus::sqlite::SqliteBus;
use passerelle_kit::CancellationToken;
use passerelle_kit::clock::{Clock, SystemClock};
use passerelle_kit::config::ServerArgs;
use passerelle_kit::testing::{Bearer, TestEngines, TestIssuer, serve_local};
use passerelle_proto::analytics::v1::analytics_client::AnalyticsClient;
use passerelle_store::DynStore;
use passerelle_store::sqlite::SqliteStore;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub type Client = AnalyticsClient<InterceptedService<Channel, Bearer>>;

pub const BENEFICIARY: &str = "person-42";

#[allow(dead_code)]
pub struct App {
    pub channel: Channel,
    pub store: DynStore,
    pub bus: DynBus,
    pub service: Analytics,
    pub issuer: TestIssuer,
    pub shutdown: CancellationToken,
    pub engines: TestEngines,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn listen() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    (listener, addr)
}

/// A directory service with the Amiens test places, on its own store.
async fn spawn_directory(dir: &std::path::Path, shutdown: &CancellationToken) -> String {
    let store: DynStore = Arc::new(SqliteStore::open(&dir.join("directory.db")).unwrap());
    let bus: DynBus = Arc::new(SqliteBus::open(&dir.join("directory-bus.db"), 2).unwrap());
    let config = passerelle_directory::DirectoryConfig {
        base: passerelle_kit::base::ServiceBase {
            store,
            bus,
            server: ServerArgs::default(),
            verifier: None,
            clock: Arc::new(SystemClock),
        },
        replica: "test".into(),
    };
    let running = passerelle_directory::start(config, shutdown.clone())
        .await
        .unwrap();
    let places = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../services/directory/tests/data/lieux-amiens.csv"),
    )
    .unwrap();
    let rows = passerelle_directory::files::read(
        passerelle_directory::files::Format::Csv,
        &places,
        "test",
    )
    .unwrap();
    let report = running.service.import(None, rows, |_, _| {}).await.unwrap();
    assert!(report.imported > 5, "{report:?}");
    let (listener, addr) = listen().await;
    tokio::spawn(running.serve(listener, shutdown.clone()));
    addr
}

/// The analytics service; with `directory`, a directory service beside it.
pub async fn spawn_app(directory: bool) -> App {
    let engines = TestEngines::new();
    let issuer = TestIssuer::default();
    let shutdown = CancellationToken::new();
    let directory_url = if directory {
        Some(spawn_directory(engines.dir.path(), &shutdown).await)
    } else {
        None
    };
    let config = AnalyticsConfig {
        base: engines.base(Some(issuer.verifier()), Arc::new(SystemClock)),
        rules: Rules::default_rules(),
        directory_url,
    };
    let running = passerelle_analytics::start(config, shutdown.clone()).unwrap();
    let service = running.service.clone();
    let (_, channel) = serve_local(running, &shutdown).await;
    App {
        channel,
        store: engines.store.clone(),
        bus: engines.bus.clone(),
        service,
        issuer,
        shutdown,
        engines,
    }
}

impl App {
    pub fn client(&self, token: Option<&str>) -> Client {
        AnalyticsClient::with_interceptor(self.channel.clone(), Bearer(token.map(str::to_owned)))
            .max_decoding_message_size(64 * 1024 * 1024)
    }

    pub fn agent(&self, structure: &str) -> Client {
        self.client(Some(&self.issuer.token(
            "advisor-1",
            "agent",
            Some(structure),
        )))
    }

    pub fn manager(&self) -> Client {
        self.client(Some(&self.issuer.token(
            "manager-1",
            "manager",
            Some("ccas"),
        )))
    }

    /// The beneficiary grants ccas-nord a mandate with `scopes`, straight into the store.
    pub async fn mandate(&self, scopes: &[Scope]) {
        let now = SystemClock.now();
        let mandate = Mandate::new(
            BENEFICIARY,
            "ccas-nord",
            scopes.iter().copied().collect(),
            Consent::SelfService,
            now,
            86_400,
        );
        self.store.batch(vec![mandate.mutation()]).await.unwrap();
    }
}

/// A CSV survey file under the app's directory.
pub fn write(app: &App, name: &str, text: &str) -> std::path::PathBuf {
    let path = app.engines.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The rows of a CSV table as maps from column to value.
pub fn rows(csv: &[u8]) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::str::from_utf8(csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| ((*h).to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}
