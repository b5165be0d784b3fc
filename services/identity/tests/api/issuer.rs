//! The built-in issuer as any OIDC client sees it: discovery and keys over plain HTTP, in
//! Keycloak's URL layout, and key rotation that never invalidates a live token.

use std::sync::Arc;

use passerelle_identity::IdpChoice;
use passerelle_kit::auth::{JwtVerifier, Role};
use passerelle_kit::clock::ManualClock;
use serde_json::Value;

use crate::helpers::{ADMIN, spawn_app, spawn_with};

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_keys_are_served_where_keycloak_serves_them() {
    let app = spawn_app().await;
    assert_eq!(app.issuer, format!("http://{}/realms/passerelle", app.addr));
    let http = reqwest::Client::new();
    let discovery: Value = http
        .get(format!("{}/.well-known/openid-configuration", app.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], app.issuer);
    let jwks: Value = http
        .get(discovery["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = app.admin().await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&kid(&token).as_str()), "{kids:?}");

    // Any verifier pointed at the issuer accepts the token: Keycloak's claim layout.
    let principal = JwtVerifier::for_issuer(
        &app.issuer,
        None,
        Some(passerelle_kit::auth::AUDIENCE.into()),
    )
    .verify(&token)
    .await
    .unwrap();
    assert_eq!(principal.roles, vec![Role::Admin]);
    assert_eq!(principal.structure.as_deref(), Some("passerelle"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_adds_a_key_and_keeps_the_old_one_while_tokens_may_live() {
    let clock = ManualClock::starting_now();
    let app = spawn_with(IdpChoice::BuiltIn, Arc::clone(&clock) as _, ADMIN).await;
    let before = app.admin().await;

    clock.advance(31 * 86_400);
    let issuer = passerelle_identity_issuer(&app);
    assert!(
        issuer.rotate_if_due().await.unwrap(),
        "a 31-day-old key is rotated"
    );
    assert!(!issuer.rotate_if_due().await.unwrap(), "once");
    let after = app.admin().await;
    assert_ne!(kid(&before), kid(&after), "new tokens use the new key");

    let verifier = JwtVerifier::for_issuer(
        &app.issuer,
        None,
        Some(passerelle_kit::auth::AUDIENCE.into()),
    );
    verifier.verify(&after).await.unwrap();
    verifier
        .verify(&before)
        .await
        .expect("a token signed before the rotation still verifies");

    clock.advance(62 * 86_400);
    issuer.rotate_if_due().await.unwrap();
    let jwks = issuer.jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        !kids.contains(&kid(&before).as_str()),
        "keys older than two periods are retired: {kids:?}"
    );
}

fn passerelle_identity_issuer(app: &crate::helpers::App) -> passerelle_identity::issuer::Issuer {
    app.issuer_handle.clone().expect("built-in issuer")
}
