//! Token checks and sign-ins, side by side with their baselines in one run:
//! - the kit's token verification (header, key lookup, RS256 signature, claims, principal)
//!   against the bare RS256 signature check of the same token, one core;
//! - sign-ins per second with the service's Argon2id parameters (19 MiB, 2 passes) against
//!   the bare Argon2id verification they contain.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use passerelle_benchkit::{compare, measure, section};
use passerelle_identity::{IdentityConfig, IdpChoice};
use passerelle_kit::CancellationToken;
use passerelle_kit::auth::{JwtVerifier, KeySource};
use passerelle_kit::clock::SystemClock;
use passerelle_kit::secrets::MasterKey;

fn main() {
    passerelle_benchkit::block_on(async {
        let engines = passerelle_kit::testing::TestEngines::new();
        let config = IdentityConfig {
            base: engines.base(None, Arc::new(SystemClock)),
            idp: IdpChoice::BuiltIn,
            master_key: MasterKey::generate().unwrap(),
            public_url: "http://127.0.0.1:1".into(),
            token_ttl: Duration::from_secs(900),
            key_rotation: Duration::from_secs(30 * 86_400),
            argon2_memory_kib: 19_456,
            argon2_passes: 2,
            argon2_budget_mib: 256,
            sms: None,
            bootstrap_admin: Some(("admin".into(), "a bench passphrase".into())),
            erasure_journal: None,
            structures: passerelle_identity::config::parse_structures(
                passerelle_identity::config::EXAMPLE_STRUCTURES,
                "the example",
            )
            .unwrap(),
        };
        let issuer_url = config.issuer_url();
        let running = passerelle_identity::start(config, CancellationToken::new())
            .await
            .unwrap();
        let issuer = running.service.issuer.clone().unwrap();
        let service = running.service.identity.clone();
        let token = service
            .login("admin", "a bench passphrase", "bench")
            .await
            .unwrap()
            .access_token;

        section("token checks, one at a time (one core)");
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(issuer.jwks()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwks.keys[0]).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_aud = false;
        let (bare_token, bare_key, bare_validation) =
            (token.clone(), key.clone(), validation.clone());
        let bare = measure("bare RS256 signature check", 1, move |_| {
            let result =
                jsonwebtoken::decode::<serde_json::Value>(&bare_token, &bare_key, &bare_validation);
            assert!(result.is_ok());
            async {}
        })
        .await;
        let verifier = JwtVerifier::new(issuer_url, None, KeySource::Static(jwks));
        let kit_token = token.clone();
        let kit = measure("kit verification (principal built)", 1, move |_| {
            let (verifier, token) = (verifier.clone(), kit_token.clone());
            async move {
                verifier.verify(&token).await.unwrap();
            }
        })
        .await;
        compare("token check", &bare, &kit);

        section("sign-ins with Argon2id 19 MiB, 2 passes");
        let phc = Argon2::default()
            .hash_password(b"a bench passphrase")
            .unwrap()
            .to_string();
        let bare_hash = measure("bare Argon2id verification, 2 in flight", 2, move |_| {
            let phc = phc.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    let parsed = PasswordHash::new(&phc).unwrap();
                    Argon2::default()
                        .verify_password(b"a bench passphrase", &parsed)
                        .unwrap();
                })
                .await
                .unwrap();
            }
        })
        .await;
        let logins = measure(
            "sign-in (throttle, lookup, hash, token), 2 in flight",
            2,
            move |_| {
                let service = service.clone();
                async move {
                    service
                        .login("admin", "a bench passphrase", "bench")
                        .await
                        .unwrap();
                }
            },
        )
        .await;
        compare("sign-in", &bare_hash, &logins);
    });
}
