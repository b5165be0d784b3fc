//! Spawning the alerts service and talking to it as each kind of caller.

use std::sync::Arc;

use passerelle_alerts::AlertsConfig;
use passerelle_alerts::sectors::Sectors;
use passerelle_alerts::service::Alerts;
use passerelle_kit::CancellationToken;
use passerelle_kit::clock::SystemClock;
use passerelle_kit::testing::{Bearer, TestEngines, TestIssuer, serve_local};
use passerelle_proto::alerts::v1 as pb;
use passerelle_proto::alerts::v1::alerts_client::AlertsClient;
use passerelle_store::DynStore;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub type Client = AlertsClient<InterceptedService<Channel, Bearer>>;

#[allow(dead_code)]
pub struct App {
    pub channel: Channel,
    pub store: DynStore,
    pub service: Alerts,
    pub issuer: TestIssuer,
    pub shutdown: CancellationToken,
    pub engines: TestEngines,
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
    let config = AlertsConfig {
        base: engines.base(Some(issuer.verifier()), Arc::new(SystemClock)),
        sectors: Arc::new(Sectors::example()),
    };
    let running = passerelle_alerts::start(config, shutdown.clone()).unwrap();
    let service = running.service.clone();
    let (_, channel) = serve_local(running, &shutdown).await;
    App {
        channel,
        store: engines.store.clone(),
        service,
        issuer,
        shutdown,
        engines,
    }
}

impl App {
    pub fn client(&self, token: Option<&str>) -> Client {
        AlertsClient::with_interceptor(self.channel.clone(), Bearer(token.map(str::to_owned)))
    }

    /// A token for `subject` with `role`, of `structure`.
    pub fn token(&self, subject: &str, role: &str, structure: Option<&str>) -> String {
        self.issuer.token(subject, role, structure)
    }

    pub fn agent(&self, structure: &str) -> Client {
        let token = self.token(&format!("agent-{structure}"), "agent", Some(structure));
        self.client(Some(&token))
    }

    pub fn manager(&self, structure: &str) -> Client {
        let token = self.token(&format!("manager-{structure}"), "manager", Some(structure));
        self.client(Some(&token))
    }

    pub fn person(&self, account: &str) -> Client {
        let token = self.token(account, "beneficiary", None);
        self.client(Some(&token))
    }
}

/// Jeanne, 85, in Amiens Nord (kept by ccas-nord).
pub fn jeanne() -> pb::Person {
    pb::Person {
        family_name: "Lefèvre".into(),
        given_name: "Jeanne".into(),
        birth_date: "1941-07-15".into(),
        address: Some(pb::Address {
            line: "12 rue Saint-Maurice".into(),
            postcode: "80080".into(),
            commune: "Amiens".into(),
        }),
        phones: vec!["03 22 97 10 10".into()],
        capacity: pb::Capacity::Senior as i32,
        ..Default::default()
    }
}

/// A person registering themselves, or registered as present at the counter.
pub fn own(person: pb::Person) -> pb::RegisterRequest {
    pb::RegisterRequest {
        person: Some(person),
        registrant: pb::Registrant::Self_ as i32,
        ..Default::default()
    }
}

/// A registration of `n` different people in Amiens Nord.
pub fn someone(n: usize) -> pb::Person {
    pb::Person {
        given_name: format!("Personne {n}"),
        ..jeanne()
    }
}
