//! Getting back in without e-mail: the one-time code on the printed sheet, and recovery at
//! the desk approved by a second agent — each used once, each in the audit trail.

use passerelle_proto::identity::v1 as pb;
use passerelle_proto::identity::v1::start_assisted_recovery_request::Presence;
use tonic::Code;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_code_works_once_and_is_replaced() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create(&admin, pb::Role::Agent, "agent-nord", "ccas-nord", "")
        .await;
    let agent = app.token_of("agent-nord").await;
    let response = app
        .client(Some(&agent))
        .create_account(pb::CreateAccountRequest {
            role: pb::Role::Beneficiary as i32,
            username: String::new(),
            given_name: "Jean".into(),
            family_name: "Valjean".into(),
            secret: "240601".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let account = response.account.unwrap();
    let sheet = response.recovery_sheet.unwrap();
    assert!(account.uses_pin);
    assert!(
        account.username.contains('-'),
        "a generated, easy name: {}",
        account.username
    );
    assert!(sheet.pdf.starts_with(b"%PDF-1.4"));
    assert!(sheet.qr_svg.contains("<svg"));

    let mut anonymous = app.client(None);
    let wrong = anonymous
        .recover_with_code(pb::RecoverWithCodeRequest {
            username: account.username.clone(),
            code: "AAAA-BBBB-CCCC".into(),
            new_secret: "135792".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert!(
        wrong
            .message()
            .starts_with("wrong username or recovery code"),
        "{}",
        wrong.message()
    );

    // Typed the way people type it: lowercase, spaces instead of dashes.
    let typed = sheet.code.to_lowercase().replace('-', " ");
    let renewed = anonymous
        .recover_with_code(pb::RecoverWithCodeRequest {
            username: account.username.to_uppercase(),
            code: typed.clone(),
            new_secret: "135792".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .recovery_sheet
        .unwrap();
    assert_ne!(
        renewed.code, sheet.code,
        "a new sheet replaces the used one"
    );
    app.login(&account.username, "135792").await;
    let old = anonymous
        .login(pb::LoginRequest {
            username: account.username.clone(),
            secret: "240601".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(old.code(), Code::Unauthenticated);
    let reused = anonymous
        .recover_with_code(pb::RecoverWithCodeRequest {
            username: account.username.clone(),
            code: typed,
            new_secret: "918273".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::Unauthenticated, "a code works once");

    let bad_secret = anonymous
        .recover_with_code(pb::RecoverWithCodeRequest {
            username: account.username.clone(),
            code: renewed.code.clone(),
            new_secret: "12345".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_secret.code(), Code::InvalidArgument);
    assert!(
        bad_secret.message().contains("exactly 6 digits"),
        "{}",
        bad_secret.message()
    );
}

fn card(number: &str) -> pb::IdentityDocument {
    pb::IdentityDocument {
        kind: pb::IdentityDocumentKind::ResidencePermit as i32,
        number: number.into(),
    }
}

fn on_card(number: &str) -> Option<Presence> {
    Some(Presence::IdentityDocument(card(number)))
}

/// Desk recovery: an agent of the person's structure (or one they gave a `procedures`
/// mandate), the person shown to be there — by their sheet's code, or an identity document
/// both agents check — a second agent's approval, an SMS to the person, and the trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_at_the_desk_needs_a_second_agent_and_is_audited() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for name in ["agent-one", "agent-two"] {
        app.create(&admin, pb::Role::Agent, name, "ccas-nord", "")
            .await;
    }
    app.create(&admin, pb::Role::Agent, "agent-sud", "ccas-sud", "")
        .await;
    let (one, two, sud) = (
        app.token_of("agent-one").await,
        app.token_of("agent-two").await,
        app.token_of("agent-sud").await,
    );
    let (person, _) = app
        .create(
            &one,
            pb::Role::Beneficiary,
            "lost-phone",
            "",
            "06 11 22 33 44",
        )
        .await;
    let start = |token: &str, presence: Option<Presence>| {
        let mut client = app.client(Some(token));
        let request = pb::StartAssistedRecoveryRequest {
            account_id: person.id.clone(),
            verification: "came with her social worker".into(),
            presence,
        };
        async move { client.start_assisted_recovery(request).await }
    };

    let missing = start(&one, None).await.unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert!(
        missing.message().contains("presence is required"),
        "{missing:?}"
    );
    let bad_number = start(&one, on_card("#1")).await.unwrap_err();
    assert_eq!(bad_number.code(), Code::InvalidArgument);

    // An agent of another structure, with no mandate from the person, cannot even start.
    let stranger = start(&sud, on_card("AB1234567")).await.unwrap_err();
    assert_eq!(stranger.code(), Code::PermissionDenied);
    assert!(
        stranger.message().contains("followed by ccas-nord"),
        "{}",
        stranger.message()
    );

    let started = start(&one, on_card("ab 123 4567"))
        .await
        .unwrap()
        .into_inner();
    let approve = |token: String, secret: &str, document: Option<pb::IdentityDocument>| {
        let mut client = app.client(Some(&token));
        let request = pb::ApproveAssistedRecoveryRequest {
            recovery_id: started.id.clone(),
            new_secret: secret.into(),
            identity_document: document,
        };
        async move { client.approve_assisted_recovery(request).await }
    };
    let alone = approve(one.clone(), "a fresh passphrase", Some(card("AB1234567")))
        .await
        .unwrap_err();
    assert_eq!(alone.code(), Code::PermissionDenied);
    assert!(
        alone.message().contains("second agent"),
        "{}",
        alone.message()
    );
    let elsewhere = approve(sud, "a fresh passphrase", Some(card("AB1234567")))
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code(), Code::PermissionDenied);
    // The second agent must look at the document too: none, or another one, is refused.
    let unchecked = approve(two.clone(), "a fresh passphrase", None)
        .await
        .unwrap_err();
    assert_eq!(unchecked.code(), Code::InvalidArgument);
    let other_document = approve(two.clone(), "a fresh passphrase", Some(card("ZZ9999999")))
        .await
        .unwrap_err();
    assert_eq!(other_document.code(), Code::PermissionDenied);
    assert!(
        other_document
            .message()
            .contains("not the identity document")
    );
    let sheet = approve(two.clone(), "a fresh passphrase", Some(card("AB-1234-567")))
        .await
        .unwrap()
        .into_inner();
    let sheet = sheet.recovery_sheet.unwrap();
    assert!(sheet.pdf.starts_with(b"%PDF"));
    app.login("lost-phone", "a fresh passphrase").await;
    let again = approve(two.clone(), "another passphrase", Some(card("AB1234567")))
        .await
        .unwrap_err();
    assert!(
        matches!(again.code(), Code::FailedPrecondition | Code::NotFound),
        "{again:?}"
    );

    // The person is told on their phone, by the event's consumer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let texts = app.smsc.texts_to("+33611223344").await;
        if let Some(text) = texts.iter().find(|t| t.contains("changé au guichet")) {
            assert!(
                text.contains("lost-phone") && text.contains("ccas-nord"),
                "{text}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no SMS told the person: {texts:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // With the printed sheet's code instead: checked, and used up at once.
    let by_sheet = start(&two, Some(Presence::SheetCode("AAAA-BBBB-CCCC".into())))
        .await
        .unwrap_err();
    assert_eq!(by_sheet.code(), Code::PermissionDenied, "a wrong code");
    let second = start(&two, Some(Presence::SheetCode(sheet.code.clone())))
        .await
        .unwrap()
        .into_inner();
    let reuse = app
        .client(None)
        .recover_with_code(pb::RecoverWithCodeRequest {
            username: "lost-phone".into(),
            code: sheet.code.clone(),
            new_secret: "a third passphrase".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        reuse.code(),
        Code::Unauthenticated,
        "the agents saw the code: it no longer works alone"
    );
    app.client(Some(&one))
        .approve_assisted_recovery(pb::ApproveAssistedRecoveryRequest {
            recovery_id: second.id,
            new_secret: "a third passphrase".into(),
            identity_document: None,
        })
        .await
        .unwrap();

    let person_token = app.login("lost-phone", "a third passphrase").await;
    let trail = app
        .client(Some(&person_token))
        .list_audit_trail(pb::ListAuditTrailRequest {
            beneficiary_id: person.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<&str> = trail.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "identity.StartAssistedRecovery",
            "identity.ApproveAssistedRecovery",
            "identity.StartAssistedRecovery",
            "identity.ApproveAssistedRecovery"
        ]
    );
    let first = &trail.entries[0].detail;
    assert!(
        first.contains("residence permit ••••567") && first.contains("social worker"),
        "{first}"
    );
    assert!(!first.contains("AB1234"), "the number is not kept: {first}");
    assert!(trail.entries[1].detail.contains("checked by both agents"));
    assert!(trail.entries[2].detail.contains("recovery sheet"));
}

/// Another structure may recover the account only under a live `procedures` mandate, and
/// the mandate must still be live when the second agent approves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_structure_recovers_only_under_a_procedures_mandate() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create(&admin, pb::Role::Agent, "agent-nord", "ccas-nord", "")
        .await;
    for name in ["sud-one", "sud-two"] {
        app.create(&admin, pb::Role::Agent, name, "ccas-sud", "")
            .await;
    }
    let nord = app.token_of("agent-nord").await;
    let (sud_one, sud_two) = (app.token_of("sud-one").await, app.token_of("sud-two").await);
    let (person, _) = app
        .create(&nord, pb::Role::Beneficiary, "moved-south", "", "")
        .await;
    let person_token = app.token_of("moved-south").await;
    let grant = |scope: pb::Scope| {
        let mut client = app.client(Some(&person_token));
        let request = pb::GrantMandateRequest {
            beneficiary_id: person.id.clone(),
            structure: "ccas-sud".into(),
            scopes: vec![scope as i32],
            duration: pb::MandateDuration::OneMonth as i32,
            ..Default::default()
        };
        async move { client.grant_mandate(request).await.unwrap().into_inner() }
    };
    let start = || {
        let mut client = app.client(Some(&sud_one));
        let request = pb::StartAssistedRecoveryRequest {
            account_id: person.id.clone(),
            presence: on_card("P12345678"),
            ..Default::default()
        };
        async move { client.start_assisted_recovery(request).await }
    };
    grant(pb::Scope::Documents).await;
    assert_eq!(
        start().await.unwrap_err().code(),
        Code::PermissionDenied,
        "documents is not procedures"
    );
    let mandate = grant(pb::Scope::Procedures).await;
    let started = start().await.unwrap().into_inner();
    // The person withdraws the mandate before the second agent approves.
    app.client(Some(&person_token))
        .revoke_mandate(pb::RevokeMandateRequest {
            mandate_id: mandate.id,
            beneficiary_id: person.id.clone(),
            scopes: vec![],
        })
        .await
        .unwrap();
    let late = app
        .client(Some(&sud_two))
        .approve_assisted_recovery(pb::ApproveAssistedRecoveryRequest {
            recovery_id: started.id,
            new_secret: "a fresh passphrase".into(),
            identity_document: Some(card("P12345678")),
        })
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::PermissionDenied, "{late:?}");
    app.login("moved-south", "moved-south-secret").await;
}
