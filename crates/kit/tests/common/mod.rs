//! A throwaway RS256 issuer for tests: a fresh key, its JWKS, and tokens with any claims.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://sso.test/realms/passerelle";

pub struct TestIssuer {
    pub kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl TestIssuer {
    pub fn new(kid: &str) -> Self {
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key).unwrap();
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

    pub fn jwks(issuers: &[&TestIssuer]) -> JwkSet {
        serde_json::from_value(
            json!({ "keys": issuers.iter().map(|i| i.jwk()).collect::<Vec<_>>() }),
        )
        .unwrap()
    }

    /// Keycloak-shaped claims for `sub` with `roles`, valid for an hour.
    pub fn claims(sub: &str, roles: &[&str]) -> Value {
        let now = now();
        json!({
            "iss": ISSUER, "sub": sub, "azp": "passerelle-web", "jti": "t-1",
            "iat": now, "exp": now + 3600,
            "realm_access": { "roles": roles },
        })
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        self.sign(&Self::claims(sub, roles))
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
