//! The same story on a real Keycloak 26 (`PASSERELLE_TEST_KEYCLOAK`, started by
//! `scripts/servers.sh start keycloak` with the realm of `deploy/keycloak/`): accounts become
//! Keycloak users, tokens are Keycloak's, and mandates still decide what agents may do.

use std::sync::Arc;

use passerelle_identity::IdpChoice;
use passerelle_identity::keycloak::KeycloakSettings;
use passerelle_kit::auth::Role;
use passerelle_kit::clock::SystemClock;
use passerelle_proto::identity::v1 as pb;

use crate::helpers::spawn_with;

fn run_tag() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mandate_story_on_keycloak() {
    let Some(addr) =
        passerelle_store::conformance::server_address("PASSERELLE_TEST_KEYCLOAK", "Keycloak")
    else {
        return;
    };
    let secret =
        std::env::var("PASSERELLE_TEST_KEYCLOAK_SECRET").expect("PASSERELLE_TEST_KEYCLOAK_SECRET");
    let settings =
        KeycloakSettings::parse(&format!("keycloak://{addr}/realms/passerelle"), secret).unwrap();
    let tag = run_tag();
    let admin_name = format!("admin-{tag}");
    let app = spawn_with(
        IdpChoice::Keycloak(settings.clone()),
        Arc::new(SystemClock),
        &admin_name,
    )
    .await;
    assert_eq!(app.issuer, settings.issuer());
    let admin = app.login(&admin_name, crate::helpers::ADMIN_PASSWORD).await;

    // The token is Keycloak's, in the layout the kit reads.
    let principal = passerelle_kit::auth::JwtVerifier::for_issuer(
        &settings.issuer(),
        None,
        Some(passerelle_kit::auth::AUDIENCE.into()),
    )
    .verify(&admin)
    .await
    .unwrap();
    assert_eq!(principal.roles, vec![Role::Admin]);
    assert_eq!(principal.structure.as_deref(), Some("passerelle"));

    crate::scenario::mandate_story(&app, &admin, &tag).await;

    // A wrong secret gives the same answer as with the built-in issuer.
    let wrong = app
        .client(None)
        .login(pb::LoginRequest {
            username: admin_name,
            secret: "not the password".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        wrong.message(),
        passerelle_identity::service::WRONG_CREDENTIALS
    );
}
