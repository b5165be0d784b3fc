//! The story the identity service exists for, end to end: an agent creates a beneficiary's
//! account; the beneficiary grants the agent's structure a mandate; the agent acts under it
//! (and the act lands in the beneficiary's audit trail); the beneficiary revokes it; the
//! agent is refused from then on.

use passerelle_proto::identity::v1 as pb;
use tonic::Code;

use crate::helpers::{App, own_grant, spawn_app};

/// Runs the story on `app`, with an admin token and names made unique by `tag`.
pub async fn mandate_story(app: &App, admin: &str, tag: &str) {
    let agent_name = format!("agent-{tag}");
    app.create(admin, pb::Role::Agent, &agent_name, "ccas-nord", "")
        .await;
    let agent = app.token_of(&agent_name).await;

    let person_name = format!("leila-{tag}");
    let (person, code) = app
        .create(&agent, pb::Role::Beneficiary, &person_name, "", "")
        .await;
    assert_eq!(
        person.structure, "ccas-nord",
        "the account belongs to the agent's structure"
    );
    assert_eq!(code.len(), 14, "a recovery code to print: {code}");
    let person_token = app.token_of(&person_name).await;

    // Without a mandate, the agent sees nothing.
    let refused = app
        .client(Some(&agent))
        .get_account(pb::GetAccountRequest {
            account_id: person.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    let mandate = app
        .client(Some(&person_token))
        .grant_mandate(own_grant(
            person.id.clone(),
            "ccas-nord",
            &[pb::Scope::Procedures],
            pb::MandateDuration::OneMonth,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(mandate.live);
    assert_eq!(mandate.consent, "self");
    assert_eq!(mandate.structure_name, "CCAS d'Amiens, antenne Nord");
    assert!(
        mandate
            .summary
            .starts_with("Vous autorisez CCAS d'Amiens, antenne Nord à faire vos démarches"),
        "{}",
        mandate.summary
    );

    let updated = app
        .client(Some(&agent))
        .update_account(pb::UpdateAccountRequest {
            account_id: person.id.clone(),
            phone: Some("06 98 76 54 32".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.phone, "+33698765432");

    let trail = app
        .client(Some(&person_token))
        .list_audit_trail(pb::ListAuditTrailRequest {
            beneficiary_id: person.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let act = trail
        .entries
        .iter()
        .find(|e| e.action == "identity.UpdateAccount")
        .expect("the agent's act is in the audit trail");
    assert_eq!(act.mandate_id, mandate.id);
    assert_eq!(act.actor_structure, "ccas-nord");
    assert!(!act.actor.is_empty());
    assert_eq!(act.detail, "changed phone");

    let revoked = app
        .client(Some(&person_token))
        .revoke_mandate(pb::RevokeMandateRequest {
            mandate_id: mandate.id.clone(),
            beneficiary_id: person.id.clone(),
            scopes: Vec::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.revoked && !revoked.live);

    // The agent's token is still valid; the mandate is not, and that is checked every time.
    let refused = app
        .client(Some(&agent))
        .update_account(pb::UpdateAccountRequest {
            account_id: person.id.clone(),
            phone: Some("06 00 00 00 00".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("no live mandate"),
        "{}",
        refused.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mandate_story_on_the_built_in_issuer() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    mandate_story(&app, &admin, "builtin").await;
}
