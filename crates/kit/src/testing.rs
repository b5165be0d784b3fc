//! Test tooling for services (feature `testsuite`): a throwaway RS256 issuer making
//! Keycloak-shaped tokens and the verifier that trusts it (real tokens come from the identity
//! service or Keycloak); embedded engines in a temporary directory ([`TestEngines`]); a started
//! service served on a free local port ([`serve_local`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::auth::{JwtVerifier, KeySource};

pub const TEST_ISSUER: &str = "https://sso.test/realms/passerelle";

/// Unix time in seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A fresh RSA key that signs tokens for tests.
pub struct TestIssuer {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("kid", &self.kid)
            .finish()
    }
}

impl Default for TestIssuer {
    fn default() -> Self {
        Self::new("test-key")
    }
}

impl TestIssuer {
    pub fn new(kid: &str) -> Self {
        let key = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let der = AsDer::<Pkcs8V1Der<'_>>::as_der(&key).expect("PKCS#8");
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der.as_ref())
        );
        let public = key.public_key();
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        });
        Self {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            jwk,
        }
    }

    pub fn jwk(&self) -> Value {
        self.jwk.clone()
    }

    pub fn jwks(&self) -> JwkSet {
        Self::jwks_of(&[self])
    }

    /// One key set publishing several issuers' keys (a rotation, a forger with the same kid…).
    pub fn jwks_of(issuers: &[&TestIssuer]) -> JwkSet {
        serde_json::from_value(
            json!({ "keys": issuers.iter().map(|i| i.jwk()).collect::<Vec<_>>() }),
        )
        .unwrap()
    }

    /// A verifier trusting this issuer only.
    pub fn verifier(&self) -> JwtVerifier {
        JwtVerifier::new(
            TEST_ISSUER,
            Some(crate::auth::AUDIENCE.into()),
            KeySource::Static(self.jwks()),
        )
    }

    /// Keycloak-shaped claims, valid for an hour.
    pub fn claims(sub: &str, roles: &[&str], structure: Option<&str>) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        json!({
            "iss": TEST_ISSUER, "aud": crate::auth::AUDIENCE, "sub": sub, "azp": "passerelle-test", "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now, "exp": now + 3600,
            "realm_access": { "roles": roles },
            "structure": structure,
        })
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    /// A token for `sub` with one role and, for staff, a structure.
    pub fn token(&self, sub: &str, role: &str, structure: Option<&str>) -> String {
        self.sign(&Self::claims(sub, &[role], structure))
    }
}

/// A client interceptor adding `authorization: Bearer <token>` when there is a token.
#[derive(Clone, Debug)]
pub struct Bearer(pub Option<String>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        Ok(request)
    }
}

/// The embedded engines (SQLite store and event log) in a directory of their own, removed when
/// dropped: one per test, so tests never share state.
pub struct TestEngines {
    pub store: passerelle_store::DynStore,
    pub bus: passerelle_bus::DynBus,
    pub dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestEngines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEngines")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl TestEngines {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(
            passerelle_store::sqlite::SqliteStore::open(&dir.path().join("store.db")).unwrap(),
        );
        let bus = std::sync::Arc::new(
            passerelle_bus::sqlite::SqliteBus::open(&dir.path().join("bus.db"), 2).unwrap(),
        );
        Self { store, bus, dir }
    }

    /// A service base on these engines with default server settings.
    pub fn base(
        &self,
        verifier: Option<JwtVerifier>,
        clock: passerelle_core::clock::DynClock,
    ) -> crate::base::ServiceBase {
        crate::base::ServiceBase {
            store: self.store.clone(),
            bus: self.bus.clone(),
            server: crate::config::ServerArgs::default(),
            verifier,
            clock,
        }
    }
}

impl Default for TestEngines {
    fn default() -> Self {
        Self::new()
    }
}

/// Serves `running` on a free port of 127.0.0.1 until `shutdown`; returns the address and a
/// connected channel.
pub async fn serve_local<S>(
    running: crate::base::Running<S>,
    shutdown: &passerelle_core::CancellationToken,
) -> (std::net::SocketAddr, tonic::transport::Channel) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(running.serve(listener, shutdown.clone()));
    (addr, connect(addr).await)
}

/// A channel to a server listening on `addr`.
pub async fn connect(addr: std::net::SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A client interceptor that sends `token` as the bearer of every call.
pub fn bearer(token: &str) -> impl tonic::service::Interceptor + Clone + use<> {
    let value: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", value.clone());
        Ok(request)
    }
}

/// Asserts that an access matrix covers every RPC `service` (e.g.
/// `passerelle.identity.v1.Identity`) serves, by name, and no other: a new RPC without its row
/// fails the matrix test.
pub fn assert_every_rpc(service: &str, covered: impl IntoIterator<Item = String>) {
    let mut covered: Vec<String> = covered.into_iter().collect();
    let mut served = passerelle_proto::rpc_names(service);
    covered.sort();
    served.sort();
    assert!(
        !served.is_empty(),
        "{service} serves no RPC: is the name right?"
    );
    assert_eq!(
        covered, served,
        "every RPC of {service} is in the access matrix"
    );
}

/// The callers an access matrix over a person's data tries, in the order of its columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersonCaller {
    /// No token.
    Anonymous,
    /// The person whose data it is.
    Person,
    /// Another beneficiary.
    OtherBeneficiary,
    /// An agent of a structure the person gave a mandate to.
    AgentMandated,
    /// An agent of that structure, without a mandate for this.
    AgentNoMandate,
    /// An agent of another structure.
    AgentOtherStructure,
    Volunteer,
    Manager,
    Admin,
}

/// [`PersonCaller`]s in the order of a matrix row's letters.
pub const PERSON_CALLERS: [PersonCaller; 9] = [
    PersonCaller::Anonymous,
    PersonCaller::Person,
    PersonCaller::OtherBeneficiary,
    PersonCaller::AgentMandated,
    PersonCaller::AgentNoMandate,
    PersonCaller::AgentOtherStructure,
    PersonCaller::Volunteer,
    PersonCaller::Manager,
    PersonCaller::Admin,
];

/// Whether a call's outcome is what its matrix cell says: `A` allowed (the call succeeded),
/// `D` denied (UNAUTHENTICATED for a caller without a token, PERMISSION_DENIED for the others;
/// any other error is a wrong cell, so a denial never hides behind NOT_FOUND or a bad request).
pub fn cell_holds(expected: char, anonymous: bool, outcome: &Result<(), tonic::Status>) -> bool {
    match (expected, outcome) {
        ('A', Ok(())) => true,
        ('D', Err(status)) if anonymous => status.code() == tonic::Code::Unauthenticated,
        ('D', Err(status)) => status.code() == tonic::Code::PermissionDenied,
        _ => false,
    }
}

/// The wrong cells of an access matrix, gathered so one run reports all of them at once.
#[derive(Debug, Default)]
pub struct MatrixReport {
    wrong: Vec<String>,
}

impl MatrixReport {
    /// Checks one cell (see [`cell_holds`]); returns whether it held.
    pub fn cell(
        &mut self,
        rpc: &dyn std::fmt::Debug,
        caller: &dyn std::fmt::Debug,
        expected: char,
        anonymous: bool,
        outcome: &Result<(), tonic::Status>,
    ) -> bool {
        let held = cell_holds(expected, anonymous, outcome);
        if !held {
            self.wrong.push(format!(
                "{rpc:?} by {caller:?}: expected {expected}, got {outcome:?}"
            ));
        }
        held
    }

    /// Checks what an allowed call by a mandated agent wrote to the person's audit trail: an
    /// entry exactly when the matrix says the RPC is audited, each naming `agent` and a mandate
    /// (`entries` as `(actor, names a mandate)`).
    pub fn audit<'a>(
        &mut self,
        rpc: &dyn std::fmt::Debug,
        audited: bool,
        agent: &str,
        entries: impl IntoIterator<Item = (&'a str, bool)>,
    ) {
        let entries: Vec<_> = entries.into_iter().collect();
        if entries.is_empty() == audited {
            self.wrong.push(format!(
                "{rpc:?} by a mandated agent: audited {}, expected {audited}",
                !entries.is_empty()
            ));
        }
        if entries
            .iter()
            .any(|(actor, mandate)| *actor != agent || !mandate)
        {
            self.wrong.push(format!(
                "{rpc:?}: an audit entry does not name the agent and mandate"
            ));
        }
    }

    /// Fails unless the matrix covers every RPC of `service` and no cell was wrong.
    pub fn finish(self, service: &str, covered: impl IntoIterator<Item = String>) {
        assert_every_rpc(service, covered);
        assert!(
            self.wrong.is_empty(),
            "{} wrong cells:\n{}",
            self.wrong.len(),
            self.wrong.join("\n")
        );
    }
}
