//! Agents reach documents only under a mandate with the documents scope, never see private
//! ones, and every act lands in the owner's audit trail. Admins see nothing.

use passerelle_access::{Access, Scope};
use passerelle_proto::vault::v1 as pb;
use tonic::Code;

use crate::helpers::{OWNER, download, new_id, pdf, spawn_app, start, upload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_need_a_documents_mandate_and_never_see_private_papers() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    let shared = upload(
        &mut owner,
        start(&new_id(), OWNER, 50_000, 0),
        pdf(50_000, 1),
    )
    .await
    .unwrap();
    let mut private = start(&new_id(), OWNER, 50_000, 0);
    private.private = true;
    let secret = upload(&mut owner, private, pdf(50_000, 2)).await.unwrap();

    let mut agent = app.agent("ccas-nord");
    let list = pb::ListDocumentsRequest {
        owner_id: OWNER.into(),
        ..Default::default()
    };
    let refused = agent.list_documents(list.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("no live mandate"),
        "{}",
        refused.message()
    );

    app.mandate(&[Scope::Alerts]).await;
    assert_eq!(
        agent.list_documents(list.clone()).await.unwrap_err().code(),
        Code::PermissionDenied,
        "alerts is not documents"
    );

    app.mandate(&[Scope::Documents]).await;
    let seen = agent
        .list_documents(list.clone())
        .await
        .unwrap()
        .into_inner()
        .documents;
    let ids: Vec<&str> = seen.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        [shared.id.as_str()],
        "private documents are not listed"
    );
    let hidden = download(&mut agent, OWNER, &secret.id).await.unwrap_err();
    assert_eq!(
        hidden.code(),
        Code::NotFound,
        "private documents do not exist for agents"
    );
    let (_, bytes, error) = download(&mut agent, OWNER, &shared.id).await.unwrap();
    assert!(error.is_none() && bytes.len() == 50_000);
    let mut make_private = pb::UpdateDocumentRequest {
        owner_id: OWNER.into(),
        document_id: shared.id.clone(),
        ..Default::default()
    };
    make_private.private = Some(false);
    assert_eq!(
        agent
            .update_document(make_private)
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // An agent of another structure, and an admin, get nothing.
    assert_eq!(
        app.agent("ccas-sud")
            .list_documents(list.clone())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let admin = app.issuer.token("admin-1", "admin", Some("passerelle"));
    assert_eq!(
        app.client(Some(&admin))
            .list_documents(list.clone())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        app.client(None)
            .list_documents(list)
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );

    let (trail, _) = Access::new(app.store.clone())
        .trail(OWNER, None, 100)
        .await
        .unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"vault.ListDocuments") && actions.contains(&"vault.Download"),
        "{actions:?}"
    );
    assert!(
        trail
            .iter()
            .all(|e| e.actor == "agent-7" && e.mandate_id.is_some())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checklists_say_what_is_missing_in_plain_words() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    let mut passport = start(&new_id(), OWNER, 30_000, 0);
    passport.r#type = pb::DocumentType::Passport as i32;
    passport.expires_on = "2020-01-01".into();
    upload(&mut owner, passport, pdf(30_000, 1)).await.unwrap();
    let mut cv = start(&new_id(), OWNER, 30_000, 0);
    cv.r#type = pb::DocumentType::Cv as i32;
    upload(&mut owner, cv, pdf(30_000, 2)).await.unwrap();

    let procedures = owner
        .list_procedures(pb::ListProceduresRequest {})
        .await
        .unwrap()
        .into_inner()
        .procedures;
    assert!(procedures.iter().any(|p| p.id == "job_search"));
    let checklist = owner
        .checklist(pb::ChecklistRequest {
            owner_id: OWNER.into(),
            procedure_id: "job_search".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!checklist.complete);
    let status: Vec<(String, String)> = checklist
        .items
        .iter()
        .map(|i| (i.requirement.as_ref().unwrap().id.clone(), i.status.clone()))
        .collect();
    assert_eq!(
        status,
        [
            ("identity".into(), "expired".into()),
            ("health".into(), "missing".into()),
            ("cv".into(), "ok".into()),
            ("address".into(), "missing".into())
        ]
    );
    assert!(checklist.items[0].advice.contains("périmé"));
    assert!(
        checklist.items[1]
            .advice
            .starts_with("Il manque : la carte vitale"),
        "{}",
        checklist.items[1].advice
    );
    let unknown = owner
        .checklist(pb::ChecklistRequest {
            owner_id: OWNER.into(),
            procedure_id: "visa".into(),
        })
        .await
        .unwrap_err();
    assert!(
        unknown
            .message()
            .contains("known are rsa, domiciliation, css, job_search"),
        "{}",
        unknown.message()
    );
}

/// An agent's share of a person's papers must end when the mandate that allowed it ends —
/// revoked, expired or without `documents` any more — checked when the code is used, and
/// tidied by the identity events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_share_ends_with_the_mandate_that_allowed_it() {
    use passerelle_access::Mandate;
    use passerelle_proto::events::v1 as events;

    let app = spawn_app().await;
    let mut owner = app.owner();
    let doc = upload(
        &mut owner,
        start(&new_id(), OWNER, 40_000, 0),
        pdf(40_000, 3),
    )
    .await
    .unwrap();
    let mut agent = app.agent("ccas-nord");
    let share_for = |hours| pb::CreateShareRequest {
        owner_id: OWNER.into(),
        document_ids: vec![doc.id.clone()],
        valid_hours: hours,
        one_time: false,
        recipient: "CAF".into(),
    };
    let opens = |code: String| {
        let mut anyone = app.client(None);
        async move {
            anyone
                .open_share(pb::OpenShareRequest { code })
                .await
                .map(|r| r.into_inner().documents.len())
        }
    };
    let rewrite = |mandate: Mandate| {
        let store = app.store.clone();
        async move { store.batch(vec![mandate.mutation()]).await.unwrap() }
    };
    let now = passerelle_kit::clock::Clock::now(&passerelle_kit::clock::SystemClock);

    // Revoked in the store, no event yet: the code stops at once.
    let mut mandate = app.mandate(&[Scope::Documents]).await;
    let share = agent
        .create_share(share_for(168))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(opens(share.code.clone()).await.unwrap(), 1);
    mandate.revoked_at = Some(now);
    mandate.scopes.clear();
    rewrite(mandate).await;
    let refused = opens(share.code.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    let link = app
        .client(None)
        .open_share(pb::OpenShareRequest {
            code: share.link_token.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(link.code(), Code::NotFound, "the link token ends too");

    // Only `documents` withdrawn, `alerts` kept: the share ends as well.
    let mut mandate = app.mandate(&[Scope::Documents, Scope::Alerts]).await;
    let partial = agent
        .create_share(share_for(24))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(opens(partial.code.clone()).await.unwrap(), 1);
    mandate.scopes.remove(&Scope::Documents);
    rewrite(mandate).await;
    assert_eq!(
        opens(partial.code.clone()).await.unwrap_err().code(),
        Code::NotFound
    );

    // Expired: the share ends at the mandate's end, not the share's.
    let mut mandate = app.mandate(&[Scope::Documents]).await;
    let expiring = agent
        .create_share(share_for(168))
        .await
        .unwrap()
        .into_inner();
    mandate.expires_at = now - 1;
    rewrite(mandate).await;
    assert_eq!(
        opens(expiring.code.clone()).await.unwrap_err().code(),
        Code::NotFound
    );

    // The owner's own share does not depend on any mandate.
    let own = owner
        .create_share(share_for(24))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(opens(own.code.clone()).await.unwrap(), 1);

    // A document made private since is out of reach of the agent's share.
    let mandate = app.mandate(&[Scope::Documents]).await;
    let live = agent
        .create_share(share_for(24))
        .await
        .unwrap()
        .into_inner();
    let mut private = pb::UpdateDocumentRequest {
        owner_id: OWNER.into(),
        document_id: doc.id.clone(),
        ..Default::default()
    };
    private.private = Some(true);
    owner.update_document(private.clone()).await.unwrap();
    assert_eq!(opens(live.code.clone()).await.unwrap(), 0);
    private.private = Some(false);
    owner.update_document(private).await.unwrap();
    assert_eq!(opens(live.code.clone()).await.unwrap(), 1);

    // The revocation event marks the agent's shares revoked in the owner's list.
    app.identity_event(
        "passerelle.events.v1.MandateRevoked",
        &events::MandateRevoked {
            mandate_id: mandate.id.clone(),
            beneficiary_id: OWNER.into(),
            structure: "ccas-nord".into(),
            scopes: vec!["documents".into()],
            whole: true,
        },
    )
    .await;
    let list = pb::ListSharesRequest {
        owner_id: OWNER.into(),
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let shares = owner
            .list_shares(list.clone())
            .await
            .unwrap()
            .into_inner()
            .shares;
        let state = |id: &str| shares.iter().find(|s| s.id == id).map(|s| s.revoked);
        if state(&live.id) == Some(true) {
            assert_eq!(state(&own.id), Some(false), "the owner's share stays");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the revocation event did not end the share"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
