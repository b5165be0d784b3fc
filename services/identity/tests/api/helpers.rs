//! Spawning the identity service and talking to it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use passerelle_bus::DynBus;
use passerelle_identity::{IdentityConfig, IdpChoice};
use passerelle_kit::CancellationToken;
use passerelle_kit::clock::{DynClock, SystemClock};
use passerelle_kit::secrets::MasterKey;
use passerelle_proto::identity::v1 as pb;
use passerelle_proto::identity::v1::identity_client::IdentityClient;
use passerelle_sms::{SmppSender, SmppUrl, SmsSender};
use passerelle_store::DynStore;
use smpp34::{SmppConnectionInformation, SmppServer, SmppServerListener, TlvList};
use tokio::sync::Mutex;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

pub use passerelle_kit::testing::Bearer;
use passerelle_kit::testing::TestEngines;

pub type Client = IdentityClient<InterceptedService<Channel, Bearer>>;

/// An SMSC keeping the messages it is sent.
#[derive(Default)]
pub struct Smsc {
    pub messages: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl SmppServerListener for Smsc {
    async fn on_bind_transmitter(
        &self,
        req: smpp34::bind_transmitter,
        _c: &SmppConnectionInformation,
        _s: &String,
    ) -> smpp34::bind_transmitter_resp {
        req.accept("TestSMSC".into(), Some(0x34))
    }

    async fn on_submit_sm(
        &self,
        req: smpp34::submit_sm,
        _c: &SmppConnectionInformation,
        _s: &String,
    ) -> smpp34::submit_sm_resp {
        let payload = req.tlvs.message_payload().unwrap_or_default();
        let units: Vec<u16> = payload
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        let text = String::from_utf16_lossy(&units);
        self.messages
            .lock()
            .await
            .push((req.destination_addr.clone(), text));
        req.accept("m".into())
    }
}

impl Smsc {
    /// Every SMS sent to `e164`, oldest first.
    pub async fn texts_to(&self, e164: &str) -> Vec<String> {
        let messages = self.messages.lock().await;
        messages
            .iter()
            .filter(|(to, _)| format!("+{to}") == e164)
            .map(|(_, text)| text.clone())
            .collect()
    }

    /// The 6-digit code of the last SMS to `e164`.
    pub async fn last_code(&self, e164: &str) -> String {
        let messages = self.messages.lock().await;
        let (_, text) = messages
            .iter()
            .rev()
            .find(|(to, _)| format!("+{to}") == e164)
            .expect("no SMS");
        text.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("no code")
            .to_owned()
    }
}

#[allow(dead_code)]
pub struct App {
    pub addr: SocketAddr,
    pub channel: Channel,
    pub store: DynStore,
    pub bus: DynBus,
    pub issuer: String,
    pub smsc: Arc<Smsc>,
    /// The service itself, for checks below the gRPC layer.
    pub service: passerelle_identity::service::Identity,
    pub issuer_handle: Option<passerelle_identity::issuer::Issuer>,
    pub shutdown: CancellationToken,
    _smsc_server: SmppServer,
    _engines: TestEngines,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_app() -> App {
    spawn_with(IdpChoice::BuiltIn, Arc::new(SystemClock), ADMIN).await
}

/// A service on `idp`, with `clock`, whose first admin is `admin_name` (password
/// [`ADMIN_PASSWORD`]).
pub async fn spawn_with(idp: IdpChoice, clock: DynClock, admin_name: &str) -> App {
    let engines = TestEngines::new();
    let smsc = Arc::new(Smsc::default());
    let sms_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut smsc_server = SmppServer::new(IpAddr::V4(Ipv4Addr::LOCALHOST), sms_port, smsc.clone());
    smsc_server.start().await;
    let sms =
        SmppSender::new(SmppUrl::parse(&format!("smpp://ccas:pw@127.0.0.1:{sms_port}")).unwrap());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = IdentityConfig {
        base: engines.base(None, clock),
        idp,
        master_key: MasterKey::generate().unwrap(),
        public_url: format!("http://{addr}"),
        token_ttl: Duration::from_secs(900),
        key_rotation: Duration::from_secs(30 * 86_400),
        // Cheap hashes keep the suite fast; the real parameters are measured by the benchmark.
        argon2_memory_kib: 1024,
        argon2_passes: 1,
        argon2_budget_mib: 256,
        sms: Some(Arc::new(sms) as Arc<dyn SmsSender>),
        bootstrap_admin: Some((admin_name.into(), ADMIN_PASSWORD.into())),
        erasure_journal: None,
        structures: passerelle_identity::config::parse_structures(
            passerelle_identity::config::EXAMPLE_STRUCTURES,
            "the example",
        )
        .unwrap(),
    };
    let issuer = config.issuer_url();
    let shutdown = CancellationToken::new();
    let running = passerelle_identity::start(config, shutdown.clone())
        .await
        .unwrap();
    let service = running.service.identity.clone();
    let issuer_handle = running.service.issuer.clone();
    tokio::spawn(running.serve(listener, shutdown.clone()));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    App {
        addr,
        channel,
        store: engines.store.clone(),
        bus: engines.bus.clone(),
        issuer,
        smsc,
        service,
        issuer_handle,
        shutdown,
        _smsc_server: smsc_server,
        _engines: engines,
    }
}

impl App {
    pub fn client(&self, token: Option<&str>) -> Client {
        IdentityClient::with_interceptor(self.channel.clone(), Bearer(token.map(str::to_owned)))
    }

    pub async fn login(&self, username: &str, secret: &str) -> String {
        self.client(None)
            .login(pb::LoginRequest {
                username: username.into(),
                secret: secret.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("login of {username}: {e:?}"))
            .into_inner()
            .access_token
    }

    pub async fn admin(&self) -> String {
        self.login(ADMIN, ADMIN_PASSWORD).await
    }

    /// Events the service published on `passerelle.identity`, as (type, aggregate) pairs,
    /// waiting until at least `n` arrived.
    pub async fn events(&self, n: usize) -> Vec<passerelle_proto::events::v1::Envelope> {
        let mut consumer = self
            .bus
            .subscribe(&format!("test-{}", uuid_like()), &["passerelle.identity"])
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut out = Vec::new();
        while out.len() < n && std::time::Instant::now() < deadline {
            for d in consumer
                .poll(100, Duration::from_millis(200))
                .await
                .unwrap()
            {
                out.push(passerelle_bus::event::decode(&d).unwrap());
            }
        }
        out
    }

    /// Creates an account with `token` and returns it with its recovery code.
    pub async fn create(
        &self,
        token: &str,
        role: pb::Role,
        username: &str,
        structure: &str,
        phone: &str,
    ) -> (pb::Account, String) {
        let response = self
            .client(Some(token))
            .create_account(pb::CreateAccountRequest {
                role: role as i32,
                username: username.into(),
                given_name: "Camille".into(),
                family_name: "Martin".into(),
                phone: phone.into(),
                language: "fr".into(),
                secret: format!("{username}-secret"),
                structure: structure.into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("creating {username}: {e:?}"))
            .into_inner();
        (
            response.account.unwrap(),
            response.recovery_sheet.unwrap().code,
        )
    }

    /// Signs in an account made by [`App::create`].
    pub async fn token_of(&self, username: &str) -> String {
        self.login(username, &format!("{username}-secret")).await
    }
}

/// A person granting a mandate themselves, signed in: no drawn or typed signature, no secret.
pub fn own_grant(
    beneficiary_id: impl Into<String>,
    structure: &str,
    scopes: &[pb::Scope],
    duration: pb::MandateDuration,
) -> pb::GrantMandateRequest {
    pb::GrantMandateRequest {
        beneficiary_id: beneficiary_id.into(),
        structure: structure.into(),
        scopes: scopes.iter().map(|scope| *scope as i32).collect(),
        duration: duration as i32,
        ..Default::default()
    }
}

/// A whole 1×1 PNG, as a signature pad would send (in miniature).
pub fn signature_png() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&passerelle_identity::domain::crc32(&body).to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x60, 0, 0, 0, 2, 0, 1],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
