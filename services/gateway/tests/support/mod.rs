//! The platform the web front's tests and benchmark run on: identity (built-in issuer) and the
//! vault, in-process on port 0, with the gateway in front; and a browser-like HTTP client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use passerelle_identity::{IdentityConfig, IdpChoice};
use passerelle_kit::CancellationToken;
use passerelle_kit::auth::{AUDIENCE, JwtVerifier};
use passerelle_kit::clock::SystemClock;
use passerelle_kit::secrets::MasterKey;
use passerelle_kit::testing::TestEngines;
pub use passerelle_kit::testing::bearer;
use passerelle_proto::identity::v1 as id;
use passerelle_proto::identity::v1::identity_client::IdentityClient;
use passerelle_proto::vault::v1 as pb;
use passerelle_proto::vault::v1::vault_client::VaultClient;
use reqwest::redirect::Policy;

pub const ADMIN_PASSWORD: &str = "a long admin passphrase";

pub struct Platform {
    pub web: String,
    pub identity: tonic::transport::Channel,
    pub vault: tonic::transport::Channel,
    pub shutdown: CancellationToken,
    pub _engines: TestEngines,
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn listen() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

pub async fn platform() -> Platform {
    let engines = TestEngines::new();
    let shutdown = CancellationToken::new();
    let master = MasterKey::generate().unwrap();
    let (identity_listener, identity_addr) = listen().await;
    let public_url = format!("http://{identity_addr}");
    let issuer = format!("{public_url}/realms/passerelle");
    let config = IdentityConfig {
        base: engines.base(None, Arc::new(SystemClock)),
        idp: IdpChoice::BuiltIn,
        master_key: master.clone(),
        public_url,
        token_ttl: Duration::from_secs(900),
        key_rotation: Duration::from_secs(30 * 86_400),
        argon2_memory_kib: 1024,
        argon2_passes: 1,
        argon2_budget_mib: 64,
        sms: None,
        bootstrap_admin: Some(("admin".into(), ADMIN_PASSWORD.into())),
        erasure_journal: None,
        structures: passerelle_identity::config::parse_structures(
            passerelle_identity::config::EXAMPLE_STRUCTURES,
            "the example",
        )
        .unwrap(),
    };
    let mut base = config.base.clone();
    // The services believe the web front's forwarded address (it calls from the loopback).
    base.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let config = IdentityConfig { base, ..config };
    let running = passerelle_identity::start(config, shutdown.clone())
        .await
        .unwrap();
    tokio::spawn(running.serve(identity_listener, shutdown.clone()));
    let verifier = || {
        Some(JwtVerifier::for_issuer(
            &issuer,
            None,
            Some(AUDIENCE.into()),
        ))
    };

    let (vault_listener, vault_addr) = listen().await;
    let vault = passerelle_vault::VaultConfig {
        base: engines.base(verifier(), Arc::new(SystemClock)),
        master_key: master.clone(),
        blobs_url: format!("file://{}", engines.dir.path().join("blobs").display()),
        limits: passerelle_vault::service::Limits::default(),
        procedures_json: None,
        abandon_uploads_after: Duration::from_secs(86_400),
    };
    let running = passerelle_vault::start(vault, shutdown.clone())
        .await
        .unwrap();
    tokio::spawn(running.serve(vault_listener, shutdown.clone()));

    let (web_listener, web_addr) = listen().await;
    let gateway = passerelle_gateway::GatewayConfig {
        base: engines.base(verifier(), Arc::new(SystemClock)),
        master_key: master,
        identity_url: format!("http://{identity_addr}"),
        vault_url: format!("http://{vault_addr}"),
        web_url: Some(url::Url::parse(&format!("http://{web_addr}")).unwrap()),
        session_idle: Duration::from_secs(600),
        session_max: Duration::from_secs(36_000),
        oidc: None,
    };
    let running = passerelle_gateway::start(gateway, shutdown.clone())
        .await
        .unwrap();
    tokio::spawn(running.serve(web_listener, shutdown.clone()));
    let connect = |addr: String| async move {
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap()
    };
    Platform {
        web: format!("http://{web_addr}"),
        identity: connect(identity_addr).await,
        vault: connect(vault_addr).await,
        shutdown,
        _engines: engines,
    }
}

impl Platform {
    pub async fn token(&self, username: &str, secret: &str) -> String {
        IdentityClient::new(self.identity.clone())
            .login(id::LoginRequest {
                username: username.into(),
                secret: secret.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .access_token
    }

    /// Makes an account (as `by`), returning its id.
    pub async fn account(
        &self,
        by: &str,
        role: id::Role,
        username: &str,
        secret: &str,
        structure: &str,
    ) -> String {
        IdentityClient::with_interceptor(self.identity.clone(), bearer(by))
            .create_account(id::CreateAccountRequest {
                role: role as i32,
                username: username.into(),
                given_name: "Camille".into(),
                family_name: "Martin".into(),
                language: "fr".into(),
                secret: secret.into(),
                structure: structure.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .account
            .unwrap()
            .id
    }

    /// A beneficiary made by an agent of ccas-nord, with one document.
    pub async fn beneficiary_with_a_document(&self) -> (String, String) {
        let admin = self.token("admin", ADMIN_PASSWORD).await;
        self.account(
            &admin,
            id::Role::Agent,
            "agent-nord",
            "agent passphrase 1",
            "ccas-nord",
        )
        .await;
        let agent = self.token("agent-nord", "agent passphrase 1").await;
        let person = self
            .account(&agent, id::Role::Beneficiary, "camille", "482913", "")
            .await;
        let token = self.token("camille", "482913").await;
        let doc = self
            .upload(
                &token,
                &person,
                "Attestation CAF",
                pb::DocumentType::CafCertificate,
                "2020-01-31",
            )
            .await;
        (person, doc)
    }

    /// Files a small PDF for `owner` (as `token`), returning its id.
    pub async fn upload(
        &self,
        token: &str,
        owner: &str,
        title: &str,
        kind: pb::DocumentType,
        expires_on: &str,
    ) -> String {
        let bytes = format!("%PDF-1.7\n{title}").into_bytes();
        let messages = vec![
            pb::UploadRequest {
                part: Some(pb::upload_request::Part::Start(pb::UploadStart {
                    upload_id: uuid::Uuid::new_v4().to_string(),
                    owner_id: owner.into(),
                    r#type: kind as i32,
                    title: title.into(),
                    expires_on: expires_on.into(),
                    size_bytes: bytes.len() as i64,
                    ..Default::default()
                })),
            },
            pb::UploadRequest {
                part: Some(pb::upload_request::Part::Chunk(bytes)),
            },
        ];
        VaultClient::with_interceptor(self.vault.clone(), bearer(token))
            .upload(tokio_stream::iter(messages))
            .await
            .unwrap()
            .into_inner()
            .id
    }
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .default_headers(
            [(reqwest::header::ACCEPT_LANGUAGE, "fr-FR".parse().unwrap())]
                .into_iter()
                .collect(),
        )
        .build()
        .unwrap()
}

/// The body of the page at `url`, whatever its status.
pub async fn get_page(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The value of the hidden CSRF field of a page.
pub fn csrf(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").expect("a CSRF field") + 20;
    html[at..].split('"').next().unwrap().to_owned()
}

/// A browser signed in as `username` (the sign-in must succeed).
pub async fn signed_in(web: &str, username: &str, secret: &str) -> reqwest::Client {
    let client = browser();
    let response = sign_in(web, &client, username, secret).await;
    assert_eq!(response.status(), 303, "{username} signs in");
    client
}

pub async fn sign_in(
    web: &str,
    client: &reqwest::Client,
    username: &str,
    secret: &str,
) -> reqwest::Response {
    let page = client.get(format!("{web}/connexion")).send().await.unwrap();
    let token = csrf(&page.text().await.unwrap());
    client
        .post(format!("{web}/connexion"))
        .form(&[
            ("_csrf", token.as_str()),
            ("username", username),
            ("secret", secret),
            ("suite", "/mes-papiers"),
        ])
        .send()
        .await
        .unwrap()
}
