//! Getting back in without e-mail: the one-time code on the printed sheet, and recovery at
//! the desk approved by a second agent — each used once, each in the audit trail.

use passerelle_proto::identity::v1 as pb;
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
            new_secret: "135790".into(),
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
            new_secret: "135790".into(),
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
    app.login(&account.username, "135790").await;
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
            new_secret: "111111".into(),
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
        .create(&one, pb::Role::Beneficiary, "lost-phone", "", "")
        .await;

    let missing = app
        .client(Some(&one))
        .start_assisted_recovery(pb::StartAssistedRecoveryRequest {
            account_id: person.id.clone(),
            verification: " ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);

    let started = app
        .client(Some(&one))
        .start_assisted_recovery(pb::StartAssistedRecoveryRequest {
            account_id: person.id.clone(),
            verification: "residence permit seen".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let approve = |token: String, secret: &str| {
        let mut client = app.client(Some(&token));
        let request = pb::ApproveAssistedRecoveryRequest {
            recovery_id: started.id.clone(),
            new_secret: secret.into(),
        };
        async move { client.approve_assisted_recovery(request).await }
    };
    let alone = approve(one.clone(), "a fresh passphrase")
        .await
        .unwrap_err();
    assert_eq!(alone.code(), Code::PermissionDenied);
    assert!(
        alone.message().contains("second agent"),
        "{}",
        alone.message()
    );
    let elsewhere = approve(sud, "a fresh passphrase").await.unwrap_err();
    assert_eq!(elsewhere.code(), Code::PermissionDenied);
    let sheet = approve(two.clone(), "a fresh passphrase")
        .await
        .unwrap()
        .into_inner();
    assert!(sheet.recovery_sheet.unwrap().pdf.starts_with(b"%PDF"));
    app.login("lost-phone", "a fresh passphrase").await;
    let again = approve(two, "another passphrase").await.unwrap_err();
    assert!(
        matches!(again.code(), Code::FailedPrecondition | Code::NotFound),
        "{again:?}"
    );

    let person_token = app.login("lost-phone", "a fresh passphrase").await;
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
            "identity.ApproveAssistedRecovery"
        ]
    );
    assert!(trail.entries[0].detail.contains("residence permit seen"));
}
