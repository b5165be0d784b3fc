//! Mandates beyond the happy path: consent by SMS code, revocation scope by scope, renewal,
//! delegated tokens, expiry, erasure, and the events each of these sends.

use std::collections::HashSet;

use passerelle_identity::IdpChoice;
use passerelle_kit::clock::ManualClock;
use passerelle_proto::events::v1 as events;
use passerelle_proto::identity::v1 as pb;
use prost::Message;
use tonic::Code;

use crate::helpers::{ADMIN, App, own_grant, spawn_app, spawn_with};

/// An agent of ccas-nord and a beneficiary with a phone, both signed in.
async fn agent_and_person(app: &App) -> (String, pb::Account, String) {
    let admin = app.admin().await;
    app.create(&admin, pb::Role::Agent, "agent-nord", "ccas-nord", "")
        .await;
    let agent = app.token_of("agent-nord").await;
    let (person, _) = app
        .create(&agent, pb::Role::Beneficiary, "amina", "", "07 55 44 33 22")
        .await;
    let person_token = app.token_of("amina").await;
    (agent, person, person_token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_by_sms_code_grants_a_mandate() {
    let app = spawn_app().await;
    let (agent, person, _) = agent_and_person(&app).await;
    let mut client = app.client(Some(&agent));
    let pending = client
        .request_mandate_consent(pb::RequestMandateConsentRequest {
            beneficiary_id: person.id.clone(),
            scopes: vec![pb::Scope::Alerts as i32, pb::Scope::Interpreting as i32],
            duration: pb::MandateDuration::SixMonths as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pending.phone_masked, "+33 7 •• •• •• 22");
    let messages = app.smsc.messages.lock().await.clone();
    let (to, text) = messages.last().unwrap();
    assert_eq!(to, "33755443322");
    assert!(
        text.contains("CCAS d'Amiens, antenne Nord demande votre accord"),
        "the structure's name, not its id: {text}"
    );
    assert!(text.contains("réserver un interprète"), "{text}");
    let code = app.smsc.last_code("+33755443322").await;

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = client
        .confirm_mandate_consent(pb::ConfirmMandateConsentRequest {
            consent_id: pending.consent_id.clone(),
            code: wrong.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (refused.code(), refused.message()),
        (Code::InvalidArgument, "wrong code: 4 tries left")
    );
    let mandate = client
        .confirm_mandate_consent(pb::ConfirmMandateConsentRequest {
            consent_id: pending.consent_id.clone(),
            code,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mandate.consent, "sms");
    assert!(mandate.live);
    assert_eq!(
        mandate.scopes,
        vec![pb::Scope::Alerts as i32, pb::Scope::Interpreting as i32]
    );
    let again = client
        .confirm_mandate_consent(pb::ConfirmMandateConsentRequest {
            consent_id: pending.consent_id,
            code: "123456".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound, "a code is used once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_one_scope_keeps_the_others_and_delegated_tokens_follow() {
    let app = spawn_app().await;
    let (agent, person, person_token) = agent_and_person(&app).await;
    let mut own = app.client(Some(&person_token));
    let mandate = own
        .grant_mandate(own_grant(
            person.id.clone(),
            "ccas-nord",
            &[pb::Scope::Documents, pb::Scope::Procedures],
            pb::MandateDuration::OneYear,
        ))
        .await
        .unwrap()
        .into_inner();

    // The agent takes a delegated token for documents: it names the agent in `act`.
    let delegated = app
        .client(Some(&agent))
        .act_as(pb::ActAsRequest {
            beneficiary_id: person.id.clone(),
            scope: pb::Scope::Documents as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .access_token;
    let seen = app
        .client(Some(&delegated))
        .get_account(pb::GetAccountRequest {
            account_id: person.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.username, "amina");
    let outside = app
        .client(Some(&delegated))
        .update_account(pb::UpdateAccountRequest {
            account_id: person.id.clone(),
            language: Some("ar".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        outside.code(),
        Code::PermissionDenied,
        "the token covers documents, not procedures"
    );
    let redelegate = app
        .client(Some(&delegated))
        .act_as(pb::ActAsRequest {
            beneficiary_id: person.id.clone(),
            scope: pb::Scope::Documents as i32,
        })
        .await
        .unwrap_err();
    assert_eq!(redelegate.code(), Code::PermissionDenied);

    let partial = own
        .revoke_mandate(pb::RevokeMandateRequest {
            mandate_id: mandate.id.clone(),
            beneficiary_id: person.id.clone(),
            scopes: vec![pb::Scope::Documents as i32],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(partial.live && !partial.revoked);
    assert_eq!(partial.scopes, vec![pb::Scope::Procedures as i32]);
    let cut = app
        .client(Some(&delegated))
        .get_account(pb::GetAccountRequest {
            account_id: person.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        cut.code(),
        Code::PermissionDenied,
        "the delegated token dies with its scope"
    );
    app.client(Some(&agent))
        .update_account(pb::UpdateAccountRequest {
            account_id: person.id.clone(),
            language: Some("ar".into()),
            ..Default::default()
        })
        .await
        .expect("procedures are still granted");

    let renewed = own
        .renew_mandate(pb::RenewMandateRequest {
            mandate_id: mandate.id.clone(),
            beneficiary_id: person.id.clone(),
            duration: pb::MandateDuration::OneDay as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(renewed.expires_at.unwrap().seconds < mandate.expires_at.unwrap().seconds);

    let listed = own
        .list_mandates(pb::ListMandatesRequest {
            beneficiary_id: person.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.mandates.len(), 1);
    assert!(
        listed.mandates[0].summary.contains("faire vos démarches"),
        "{}",
        listed.mandates[0].summary
    );

    let kinds: Vec<String> = app
        .events(7)
        .await
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    for kind in [
        "AccountCreated",
        "MandateGranted",
        "MandateRevoked",
        "AccountUpdated",
    ] {
        assert!(
            kinds
                .iter()
                .any(|k| k == &format!("passerelle.events.v1.{kind}")),
            "{kind} missing from {kinds:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_mandates_stop_working_and_are_announced_once() {
    let clock = ManualClock::starting_now();
    let app = spawn_with(IdpChoice::BuiltIn, clock.clone(), ADMIN).await;
    let (agent, person, person_token) = agent_and_person(&app).await;
    let mandate = app
        .client(Some(&person_token))
        .grant_mandate(own_grant(
            person.id.clone(),
            "ccas-nord",
            &[pb::Scope::Procedures],
            pb::MandateDuration::OneDay,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(app.service.announce_expired_mandates().await.unwrap(), 0);
    clock.advance(86_400 + 60);
    let expired = app
        .client(Some(&agent))
        .update_account(pb::UpdateAccountRequest {
            account_id: person.id.clone(),
            language: Some("uk".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(expired.code(), Code::PermissionDenied);
    assert_eq!(app.service.announce_expired_mandates().await.unwrap(), 1);
    assert_eq!(
        app.service.announce_expired_mandates().await.unwrap(),
        0,
        "announced once"
    );

    let envelopes = app.events(5).await;
    let expiry = envelopes
        .iter()
        .find(|e| e.event_type == "passerelle.events.v1.MandateExpired")
        .expect("a MandateExpired event");
    let payload = events::MandateExpired::decode(expiry.payload.as_slice()).unwrap();
    assert_eq!(
        (payload.mandate_id.as_str(), payload.beneficiary_id.as_str()),
        (mandate.id.as_str(), person.id.as_str())
    );
    assert_eq!(expiry.aggregate_id, person.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_removes_the_person_and_tells_the_other_services() {
    let app = spawn_app().await;
    let (_, person, person_token) = agent_and_person(&app).await;
    app.client(Some(&person_token))
        .grant_mandate(own_grant(
            person.id.clone(),
            "ccas-nord",
            &[pb::Scope::Documents],
            pb::MandateDuration::OneMonth,
        ))
        .await
        .unwrap();
    app.client(Some(&person_token))
        .erase_account(pb::EraseAccountRequest {
            account_id: person.id.clone(),
        })
        .await
        .unwrap();
    let gone = app
        .client(None)
        .login(pb::LoginRequest {
            username: "amina".into(),
            secret: "amina-secret".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::Unauthenticated);
    let admin = app.admin().await;
    let missing = app
        .client(Some(&admin))
        .get_account(pb::GetAccountRequest {
            account_id: person.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let mandates = app
        .client(Some(&admin))
        .list_mandates(pb::ListMandatesRequest {
            beneficiary_id: person.id.clone(),
        })
        .await
        .unwrap();
    assert!(mandates.into_inner().mandates.is_empty());

    let erased: HashSet<String> = app
        .events(5)
        .await
        .into_iter()
        .filter(|e| e.event_type == "passerelle.events.v1.AccountErased")
        .map(|e| {
            events::AccountErased::decode(e.payload.as_slice())
                .unwrap()
                .account_id
        })
        .collect();
    assert!(erased.contains(&person.id));
    // The name is free again.
    app.create(&admin, pb::Role::Beneficiary, "amina", "ccas-nord", "")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_what_is_accepted() {
    let app = spawn_app().await;
    let (agent, person, _) = agent_and_person(&app).await;
    let mut client = app.client(Some(&agent));
    let account = pb::CreateAccountRequest {
        role: pb::Role::Beneficiary as i32,
        given_name: "A".into(),
        family_name: "B".into(),
        secret: "482913".into(),
        ..Default::default()
    };
    let grant = pb::GrantMandateRequest {
        beneficiary_id: person.id.clone(),
        structure: "ccas-nord".into(),
        scopes: vec![1],
        duration: 1,
        ..Default::default()
    };
    let accounts = [
        (
            pb::CreateAccountRequest {
                secret: "x".into(),
                ..account.clone()
            },
            "expected 8 to 128 characters, or a PIN of exactly 6 digits",
        ),
        (
            pb::CreateAccountRequest {
                username: "José".into(),
                ..account.clone()
            },
            "letters without accents",
        ),
        (
            pb::CreateAccountRequest {
                phone: "12".into(),
                ..account.clone()
            },
            "expected a French number",
        ),
        (
            pb::CreateAccountRequest {
                username: "amina".into(),
                ..account.clone()
            },
            "username `amina` is taken",
        ),
    ];
    let grants = [
        (
            pb::GrantMandateRequest {
                scopes: vec![],
                ..grant.clone()
            },
            "no scope given: expected one or more of",
        ),
        (
            pb::GrantMandateRequest {
                scopes: vec![9],
                ..grant.clone()
            },
            "scope 9 is not accepted",
        ),
        (
            pb::GrantMandateRequest {
                signature_png: b"GIF89a".to_vec(),
                ..grant.clone()
            },
            "expected a PNG image",
        ),
    ];
    let mut cases: Vec<(tonic::Status, &str)> = Vec::new();
    for (request, expected) in accounts {
        cases.push((client.create_account(request).await.unwrap_err(), expected));
    }
    for (request, expected) in grants {
        cases.push((client.grant_mandate(request).await.unwrap_err(), expected));
    }
    let nobody = pb::GetAccountRequest {
        account_id: "nobody".into(),
    };
    cases.push((
        client.get_account(nobody).await.unwrap_err(),
        "no account `nobody`",
    ));
    for (status, expected) in cases {
        assert!(
            status.message().contains(expected),
            "`{expected}` not in {:?}: {}",
            status.code(),
            status.message()
        );
    }
}

/// At the desk, the person shows they are there and agree by typing their own secret: without
/// it, or with a wrong one, the agent records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_mandate_needs_the_persons_own_secret() {
    let app = spawn_app().await;
    let (agent, person, person_token) = agent_and_person(&app).await;
    let mut client = app.client(Some(&agent));
    let desk = |secret: &str| pb::GrantMandateRequest {
        beneficiary_id: person.id.clone(),
        structure: "ccas-nord".into(),
        scopes: vec![pb::Scope::Documents as i32],
        duration: pb::MandateDuration::OneDay as i32,
        signature_png: crate::helpers::signature_png(),
        beneficiary_secret: secret.into(),
        typed_signature: String::new(),
    };
    let missing = client.grant_mandate(desk("")).await.unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument, "{missing:?}");
    assert!(
        missing.message().contains("beneficiary_secret is required"),
        "{missing:?}"
    );
    let wrong = client
        .grant_mandate(desk("not-amina-secret"))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::PermissionDenied, "{wrong:?}");
    assert!(wrong.message().contains("wrong"), "{wrong:?}");
    let mandates = || {
        let mut own = app.client(Some(&person_token));
        let id = person.id.clone();
        async move {
            own.list_mandates(pb::ListMandatesRequest { beneficiary_id: id })
                .await
                .unwrap()
                .into_inner()
                .mandates
                .len()
        }
    };
    assert_eq!(mandates().await, 0, "a refused desk mandate was kept");
    client.grant_mandate(desk("amina-secret")).await.unwrap();
    assert_eq!(mandates().await, 1);
}

/// A desk without a signature pad: the person types their own name instead of drawing it;
/// with neither, nothing is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_name_signs_a_desk_mandate_when_nothing_can_be_drawn() {
    let app = spawn_app().await;
    let (agent, person, _) = agent_and_person(&app).await;
    let mut client = app.client(Some(&agent));
    let desk = |typed: &str| pb::GrantMandateRequest {
        beneficiary_id: person.id.clone(),
        structure: "ccas-nord".into(),
        scopes: vec![pb::Scope::Documents as i32],
        duration: pb::MandateDuration::OneDay as i32,
        signature_png: Vec::new(),
        beneficiary_secret: "amina-secret".into(),
        typed_signature: typed.into(),
    };
    let unsigned = client.grant_mandate(desk("  ")).await.unwrap_err();
    assert_eq!(unsigned.code(), Code::InvalidArgument, "{unsigned:?}");
    assert!(
        unsigned.message().contains("typed_signature"),
        "{unsigned:?}"
    );
    let mandate = client
        .grant_mandate(desk("Amina Diallo"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mandate.consent, "in_person", "{mandate:?}");
}
