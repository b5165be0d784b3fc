//! A vault's life: provisioned when an account is created, reminders before papers expire,
//! destroyed (its key first) when the account is erased, and nothing left behind by uploads
//! that never finished.

use std::sync::Arc;
use std::time::Duration;

use passerelle_bus::event;
use passerelle_kit::clock::ManualClock;
use passerelle_proto::events::v1 as events;
use passerelle_proto::vault::v1 as pb;
use prost::Message;
use tonic::Code;

use crate::helpers::{
    OWNER, download, limits, new_id, pdf, spawn_app, spawn_with, start, upload, upload_stream,
};

async fn vault_events(app: &crate::helpers::App, kind: &str, n: usize) -> Vec<events::Envelope> {
    let mut consumer = app
        .bus
        .subscribe(&format!("test-{}", new_id()), &["passerelle.vault"])
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} {kind} events",
            out.len()
        );
        for d in consumer
            .poll(100, Duration::from_millis(200))
            .await
            .unwrap()
        {
            let envelope = event::decode(&d).unwrap();
            if envelope.event_type.ends_with(kind) {
                out.push(envelope);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn papers_about_to_expire_are_announced_once() {
    let clock = ManualClock::starting_now();
    let app = spawn_with(limits(), Arc::clone(&clock) as _).await;
    let mut owner = app.owner();
    let in_twenty_days = time::OffsetDateTime::now_utc().date() + time::Duration::days(20);
    let mut card = start(&new_id(), OWNER, 10_000, 0);
    card.expires_on = in_twenty_days.to_string();
    let doc = upload(&mut owner, card, pdf(10_000, 1)).await.unwrap();
    assert_eq!(
        app.service.announce_expiring().await.unwrap(),
        1,
        "20 days ahead is within the 30-day notice"
    );
    assert_eq!(app.service.announce_expiring().await.unwrap(), 0, "once");
    let announced = vault_events(&app, "DocumentExpiring", 1).await;
    let payload = events::DocumentExpiring::decode(announced[0].payload.as_slice()).unwrap();
    assert_eq!(
        (payload.document_id.as_str(), payload.document_type.as_str()),
        (doc.id.as_str(), "identity_card")
    );
    assert_eq!(payload.expires_on, in_twenty_days.to_string());
    assert_eq!(announced[0].aggregate_id, OWNER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_account_loses_its_vault_for_good() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    let doc = upload(
        &mut owner,
        start(&new_id(), OWNER, 300_000, 0),
        pdf(300_000, 1),
    )
    .await
    .unwrap();
    let part = app.blob_dir.join(format!("docs/{OWNER}/{}/000000", doc.id));
    let backup_part = std::fs::read(&part).unwrap();
    let backup_row = app
        .store
        .get("documents", OWNER, &doc.id)
        .await
        .unwrap()
        .unwrap();

    // The identity service says the account is erased.
    let (_, record) = event::new_record(
        "identity",
        "passerelle.events.v1.AccountErased",
        OWNER,
        &events::AccountErased {
            account_id: OWNER.into(),
        },
    );
    app.bus.append(record).await.unwrap();
    let erased = vault_events(&app, "VaultErased", 1).await;
    assert_eq!(
        events::VaultErased::decode(erased[0].payload.as_slice())
            .unwrap()
            .documents,
        1
    );

    assert!(
        app.store
            .get("vault_keys", OWNER, "")
            .await
            .unwrap()
            .is_none(),
        "the vault key is destroyed"
    );
    assert!(!part.exists(), "the bytes are removed");
    let listed = owner
        .list_documents(pb::ListDocumentsRequest {
            owner_id: OWNER.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(listed.into_inner().documents.is_empty());
    assert_eq!(
        download(&mut owner, OWNER, &doc.id)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // Even restored from a backup, the document is unreadable: its vault key is gone for good.
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, backup_part).unwrap();
    app.store
        .put(passerelle_store::Row::new(
            "documents",
            OWNER,
            &doc.id,
            backup_row,
        ))
        .await
        .unwrap();
    let restored = download(&mut owner, OWNER, &doc.id).await.unwrap_err();
    assert_eq!(restored.code(), Code::NotFound, "{restored:?}");
    assert!(
        restored.message().contains("there is no vault"),
        "{}",
        restored.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_beneficiary_gets_a_vault() {
    let app = spawn_app().await;
    let (_, record) = event::new_record(
        "identity",
        "passerelle.events.v1.AccountCreated",
        "new-person",
        &events::AccountCreated {
            account_id: "new-person".into(),
            role: "beneficiary".into(),
            structure: "ccas-nord".into(),
        },
    );
    app.bus.append(record).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app
        .store
        .get("vault_keys", "new-person", "")
        .await
        .unwrap()
        .is_none()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no vault was provisioned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clean_up_pass_leaves_no_orphan_bytes() {
    let clock = ManualClock::starting_now();
    let app = spawn_with(limits(), Arc::clone(&clock) as _).await;
    let mut owner = app.owner();
    let kept = upload(
        &mut owner,
        start(&new_id(), OWNER, 5 * 1024 * 1024, 0),
        pdf(5 * 1024 * 1024, 1),
    )
    .await
    .unwrap();
    // An upload that stops after one stored part and never comes back.
    let abandoned = new_id();
    let bytes = pdf(9 * 1024 * 1024, 2);
    let _ = owner
        .upload(upload_stream(
            start(&abandoned, OWNER, bytes.len(), 0),
            bytes[..5 * 1024 * 1024].to_vec(),
        ))
        .await;
    let dirs = |app: &crate::helpers::App| {
        std::fs::read_dir(app.blob_dir.join(format!("docs/{OWNER}")))
            .unwrap()
            .count()
    };
    assert_eq!(dirs(&app), 2);

    let early = app
        .service
        .cleanup(Duration::from_secs(86_400))
        .await
        .unwrap();
    assert_eq!(
        (early.abandoned_uploads, early.orphan_documents),
        (0, 0),
        "a recent upload may still resume"
    );
    clock.advance(2 * 86_400);
    let late = app
        .service
        .cleanup(Duration::from_secs(86_400))
        .await
        .unwrap();
    assert_eq!(late.abandoned_uploads, 1);
    assert_eq!(dirs(&app), 1);
    let (_, back, error) = download(&mut owner, OWNER, &kept.id).await.unwrap();
    assert!(error.is_none() && back.len() == 5 * 1024 * 1024);
}
