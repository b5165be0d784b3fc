//! Token verification: what is accepted, what is refused, and that each refusal says why.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passerelle_kit::auth::{AuthError, JwtVerifier, KeySource, Role};
use passerelle_kit::testing::{TEST_ISSUER as ISSUER, TestIssuer, now};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn verifier(issuers: &[&TestIssuer]) -> JwtVerifier {
    JwtVerifier::new(
        ISSUER,
        None,
        KeySource::Static(TestIssuer::jwks_of(issuers)),
    )
}

#[tokio::test]
async fn a_keycloak_shaped_token_gives_its_principal() {
    let issuer = TestIssuer::new("k1");
    let mut claims = TestIssuer::claims(
        "person-7",
        &[
            "agent",
            "offline_access",
            "default-roles-passerelle",
            "agent",
        ],
        None,
    );
    claims["structure"] = json!("ccas-nord");
    claims["act"] = json!({ "sub": "agent-3" });
    claims["jti"] = json!("t-1");
    let principal = verifier(&[&issuer])
        .verify(&issuer.sign(&claims))
        .await
        .unwrap();
    assert_eq!(principal.subject, "person-7");
    assert_eq!(
        principal.roles,
        vec![Role::Agent],
        "unknown roles dropped, duplicates merged"
    );
    assert_eq!(principal.structure.as_deref(), Some("ccas-nord"));
    assert_eq!(principal.actor.as_deref(), Some("agent-3"));
    assert_eq!(principal.client.as_deref(), Some("passerelle-test"));
    assert_eq!(principal.token_id.as_deref(), Some("t-1"));
    assert!(principal.require_any(&[Role::Manager, Role::Agent]).is_ok());
    let denied = principal
        .require_any(&[Role::Admin])
        .unwrap_err()
        .to_string();
    assert_eq!(denied, "this needs one of the roles admin");
}

#[tokio::test]
async fn an_expired_token_is_refused_as_expired() {
    let issuer = TestIssuer::new("k1");
    let mut claims = TestIssuer::claims("p", &["beneficiary"], None);
    claims["exp"] = json!(now() - 120);
    let err = verifier(&[&issuer])
        .verify(&issuer.sign(&claims))
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::Expired);
    assert_eq!(
        err.to_string(),
        "token expired: sign in again for a new one"
    );
    // Within the 30 s clock-skew allowance, it still passes.
    claims["exp"] = json!(now() - 5);
    assert!(
        verifier(&[&issuer])
            .verify(&issuer.sign(&claims))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_forged_or_altered_token_is_refused() {
    let real = TestIssuer::new("k1");
    let forger = TestIssuer::new("k1"); // same key id, different key
    let v = verifier(&[&real]);
    let err = v
        .verify(&forger.sign(&TestIssuer::claims("p", &["admin"], None)))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::BadSignature { .. }), "{err:?}");
    assert!(err.to_string().contains("does not verify"), "{err}");

    // A genuine token whose payload was swapped for one granting more.
    let token = real.sign(&TestIssuer::claims("p", &["beneficiary"], None));
    let parts: Vec<&str> = token.split('.').collect();
    let richer = URL_SAFE_NO_PAD.encode(TestIssuer::claims("p", &["admin"], None).to_string());
    let altered = format!("{}.{}.{}", parts[0], richer, parts[2]);
    assert!(matches!(
        v.verify(&altered).await.unwrap_err(),
        AuthError::BadSignature { .. }
    ));
}

#[tokio::test]
async fn other_issuers_algorithms_and_keys_are_refused() {
    let issuer = TestIssuer::new("k1");
    let v = verifier(&[&issuer]);

    let mut claims = TestIssuer::claims("p", &[], None);
    claims["iss"] = json!("https://evil.test/realms/passerelle");
    let err = v.verify(&issuer.sign(&claims)).await.unwrap_err();
    assert!(matches!(err, AuthError::WrongIssuer { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("expected `https://sso.test/realms/passerelle`"),
        "{err}"
    );

    // HS256 signed with the public key as secret: the classic algorithm-confusion attack.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("k1".into());
    let hs = jsonwebtoken::encode(
        &header,
        &TestIssuer::claims("p", &["admin"], None),
        &jsonwebtoken::EncodingKey::from_secret(issuer.jwk()["n"].as_str().unwrap().as_bytes()),
    )
    .unwrap();
    let err = v.verify(&hs).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "token algorithm HS256 is not accepted: expected RS256"
    );

    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(TestIssuer::claims("p", &["admin"], None).to_string())
    );
    assert!(matches!(
        v.verify(&unsigned).await.unwrap_err(),
        AuthError::Malformed(_)
    ));

    let stranger = TestIssuer::new("k2");
    let err = v
        .verify(&stranger.sign(&TestIssuer::claims("p", &[], None)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::UnknownKey { ref kid, .. } if kid == "k2"),
        "{err:?}"
    );

    let err = v.verify("not-a-jwt").await.unwrap_err();
    assert!(err.to_string().starts_with("malformed token"), "{err}");
}

#[tokio::test]
async fn the_authorization_header_must_be_bearer() {
    let issuer = TestIssuer::new("k1");
    let v = verifier(&[&issuer]);
    assert_eq!(v.verify_header(None).await.unwrap_err(), AuthError::Missing);
    assert_eq!(
        v.verify_header(Some("Basic dXNlcjpwdw=="))
            .await
            .unwrap_err(),
        AuthError::MalformedHeader
    );
    let token = issuer.sign(&TestIssuer::claims("p", &[], None));
    assert!(
        v.verify_header(Some(&format!("Bearer {token}")))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_audience_is_checked_when_configured() {
    let issuer = TestIssuer::new("k1");
    let jwks = TestIssuer::jwks_of(&[&issuer]);
    let v = JwtVerifier::new(
        ISSUER,
        Some("passerelle-api".into()),
        KeySource::Static(jwks),
    );
    let mut claims = TestIssuer::claims("p", &[], None);
    claims["aud"] = json!(["account"]);
    let err = v.verify(&issuer.sign(&claims)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "token audience does not include `passerelle-api`"
    );
    claims["aud"] = json!(["account", "passerelle-api"]);
    assert!(v.verify(&issuer.sign(&claims)).await.is_ok());
}

/// A JWKS endpoint serving whatever key set it is told to, counting fetches.
async fn jwks_server(body: Arc<std::sync::Mutex<String>>, fetches: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let (body, fetches) = (body.clone(), fetches.clone());
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                fetches.fetch_add(1, Ordering::SeqCst);
                let body = body.lock().unwrap().clone();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(response.as_bytes()).await.unwrap();
            });
        }
    });
    format!("http://{addr}/realms/passerelle/protocol/openid-connect/certs")
}

#[tokio::test]
async fn rotated_keys_are_fetched_and_fetches_are_rate_limited() {
    let old = TestIssuer::new("2026-01");
    let new = TestIssuer::new("2026-06");
    let body = Arc::new(std::sync::Mutex::new(
        json!({ "keys": [old.jwk()] }).to_string(),
    ));
    let fetches = Arc::new(AtomicUsize::new(0));
    let url = jwks_server(body.clone(), fetches.clone()).await;
    let v = JwtVerifier::for_issuer(ISSUER, Some(&url), None);

    assert!(
        v.verify(&old.sign(&TestIssuer::claims("p", &[], None)))
            .await
            .is_ok()
    );
    assert!(
        v.verify(&old.sign(&TestIssuer::claims("p", &[], None)))
            .await
            .is_ok()
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "keys are cached");

    // The issuer rotates; a token with the new key id arrives within the refresh interval:
    // no second fetch yet, so it is refused as unknown rather than hammering the issuer.
    *body.lock().unwrap() = json!({ "keys": [old.jwk(), new.jwk()] }).to_string();
    let err = v
        .verify(&new.sign(&TestIssuer::claims("p", &[], None)))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::UnknownKey { .. }), "{err:?}");
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_new_key_id_triggers_a_refetch() {
    let first = TestIssuer::new("a");
    let second = TestIssuer::new("b");
    let body = Arc::new(std::sync::Mutex::new(
        json!({ "keys": [first.jwk(), second.jwk()] }).to_string(),
    ));
    let fetches = Arc::new(AtomicUsize::new(0));
    let url = jwks_server(body, fetches.clone()).await;
    let v = JwtVerifier::for_issuer(ISSUER, Some(&url), None);
    assert!(
        v.verify(&second.sign(&TestIssuer::claims("p", &[], None)))
            .await
            .is_ok()
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unreachable_issuer_says_where_it_looked() {
    let issuer = TestIssuer::new("k1");
    let v = JwtVerifier::for_issuer("http://127.0.0.1:1/realms/passerelle", None, None);
    let err = v
        .verify(&issuer.sign(&TestIssuer::claims("p", &[], None)))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::JwksUnavailable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("http://127.0.0.1:1/realms/passerelle/protocol/openid-connect/certs"),
        "{err}"
    );
}

/// Services check the audience by default: a token the same issuer made for another
/// application (no `passerelle` in `aud`) is refused.
#[tokio::test]
async fn a_token_for_another_application_is_refused_by_default() {
    let issuer = TestIssuer::new("k1");
    let mut claims = TestIssuer::claims("p", &[], None);
    claims["iss"] = json!(passerelle_kit::testing::TEST_ISSUER);
    let verifier = issuer.verifier();
    assert!(verifier.verify(&issuer.sign(&claims)).await.is_ok());
    claims["aud"] = json!("account");
    let err = verifier.verify(&issuer.sign(&claims)).await.unwrap_err();
    assert!(err.to_string().contains("`passerelle`"), "{err}");
    claims.as_object_mut().unwrap().remove("aud");
    assert!(verifier.verify(&issuer.sign(&claims)).await.is_err());
}
