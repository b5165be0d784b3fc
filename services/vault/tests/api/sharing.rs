//! Sharing with a time-limited code: one-time codes for a printer at another office, links
//! for a while; revocable; every access recorded for the owner to see.

use std::sync::Arc;

use passerelle_kit::clock::ManualClock;
use passerelle_proto::vault::v1 as pb;
use tonic::Code;

use crate::helpers::{OWNER, collect, limits, new_id, pdf, spawn_app, spawn_with, start, upload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_time_code_prints_each_document_once_and_the_owner_sees_who_opened_it() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    let bytes = pdf(120_000, 1);
    let cv = upload(
        &mut owner,
        start(&new_id(), OWNER, bytes.len(), 0),
        bytes.clone(),
    )
    .await
    .unwrap();
    let share = owner
        .create_share(pb::CreateShareRequest {
            owner_id: OWNER.into(),
            document_ids: vec![cv.id.clone()],
            valid_hours: 24,
            one_time: true,
            recipient: "mairie de Longueau".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(share.code.len(), 14);
    assert!(!share.link_token.is_empty());

    // Someone at a town hall, with no account, types the code as they read it.
    let mut anyone = app.client(None);
    let typed = share.code.to_lowercase().replace('-', " ");
    let opened = anyone
        .open_share(pb::OpenShareRequest {
            code: typed.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(opened.documents.len(), 1);
    let mut stream = anyone
        .download_shared(pb::DownloadSharedRequest {
            code: typed.clone(),
            document_id: cv.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let (_, got, error) = collect(&mut stream).await.unwrap();
    assert!(error.is_none() && got == bytes);
    let twice = anyone
        .download_shared(pb::DownloadSharedRequest {
            code: typed,
            document_id: cv.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    assert!(
        twice.message().contains("one-time code was used"),
        "{}",
        twice.message()
    );

    let listed = owner
        .list_shares(pb::ListSharesRequest {
            owner_id: OWNER.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let accesses: Vec<(String, String)> = listed.shares[0]
        .accesses
        .iter()
        .map(|a| (a.action.clone(), a.document_id.clone()))
        .collect();
    assert_eq!(
        accesses,
        [
            ("open".into(), String::new()),
            ("download".into(), cv.id.clone())
        ]
    );
    assert_eq!(listed.shares[0].recipient, "mairie de Longueau");
    assert!(
        listed.shares[0].code.is_empty(),
        "the code is shown once only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_expired_and_wrong_codes_open_nothing() {
    let clock = ManualClock::starting_now();
    let app = spawn_with(limits(), Arc::clone(&clock) as _).await;
    let mut owner = app.owner();
    let doc = upload(
        &mut owner,
        start(&new_id(), OWNER, 20_000, 0),
        pdf(20_000, 1),
    )
    .await
    .unwrap();
    let share = |hours: i32| pb::CreateShareRequest {
        owner_id: OWNER.into(),
        document_ids: vec![doc.id.clone()],
        valid_hours: hours,
        one_time: false,
        recipient: "France Travail".into(),
    };
    let mut anyone = app.client(None);
    let link = owner.create_share(share(2)).await.unwrap().into_inner();
    anyone
        .open_share(pb::OpenShareRequest {
            code: link.link_token.clone(),
        })
        .await
        .expect("the link works");
    clock.advance(3 * 3600);
    let expired = anyone
        .open_share(pb::OpenShareRequest {
            code: link.link_token.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (expired.code(), expired.message()),
        (
            Code::NotFound,
            "this code opens nothing: it is wrong, expired or revoked"
        )
    );

    let revoked = owner.create_share(share(24)).await.unwrap().into_inner();
    owner
        .revoke_share(pb::RevokeShareRequest {
            owner_id: OWNER.into(),
            share_id: revoked.id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        anyone
            .open_share(pb::OpenShareRequest {
                code: revoked.code.clone()
            })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        anyone
            .open_share(pb::OpenShareRequest {
                code: "AAAA-BBBB-CCCC".into()
            })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    let too_long = owner.create_share(share(500)).await.unwrap_err();
    assert!(
        too_long.message().contains("expected 1 to 168"),
        "{}",
        too_long.message()
    );
    let mut nothing = share(1);
    nothing.document_ids.clear();
    assert!(
        owner
            .create_share(nothing)
            .await
            .unwrap_err()
            .message()
            .contains("no document to share")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_codes_is_slowed_down() {
    let app = spawn_app().await;
    let mut anyone = app.client(None);
    let mut slowed = false;
    for i in 0..60 {
        let status = anyone
            .open_share(pb::OpenShareRequest {
                code: format!("AAAA-BBBB-{i:04}"),
            })
            .await
            .unwrap_err();
        if status.code() == Code::ResourceExhausted {
            assert!(
                status.message().starts_with("too many attempts: wait"),
                "{}",
                status.message()
            );
            slowed = true;
            break;
        }
    }
    assert!(slowed, "60 wrong codes from one address went unthrottled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_without_a_duration_lasts_three_days() {
    let clock = ManualClock::starting_now();
    let app = spawn_with(limits(), Arc::clone(&clock) as _).await;
    let mut owner = app.owner();
    let doc = upload(
        &mut owner,
        start(&new_id(), OWNER, 20_000, 0),
        pdf(20_000, 1),
    )
    .await
    .unwrap();
    let share = owner
        .create_share(pb::CreateShareRequest {
            owner_id: OWNER.into(),
            document_ids: vec![doc.id],
            ..Default::default()
        })
        .await
        .expect("a share without a duration gets the default one")
        .into_inner();
    let now = passerelle_kit::clock::Clock::now(&*clock);
    assert_eq!(share.expires_at.unwrap().seconds - now, 72 * 3600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_document_type_names_every_accepted_one() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    let mut unknown = start(&new_id(), OWNER, 20_000, 0);
    unknown.r#type = 0;
    let err = upload(&mut owner, unknown, pdf(20_000, 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    for expected in [
        "type 0 is not accepted",
        "DOCUMENT_TYPE_IDENTITY_CARD (1, identity card)",
        "DOCUMENT_TYPE_CARTE_VITALE (4, carte vitale)",
        "DOCUMENT_TYPE_OTHER (12, other)",
    ] {
        assert!(err.message().contains(expected), "{}", err.message());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_reaches_their_own_vault_without_giving_its_id() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    let doc = upload(&mut owner, start(&new_id(), "", 20_000, 0), pdf(20_000, 1))
        .await
        .expect("an empty owner_id is the caller's own vault");
    assert_eq!(doc.owner_id, OWNER);
    let listed = owner
        .list_documents(pb::ListDocumentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.documents.len(), 1);
    let share = owner
        .create_share(pb::CreateShareRequest {
            document_ids: vec![doc.id],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!share.code.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoever_holds_a_code_sees_the_paper_not_the_persons_file() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    let bytes = pdf(40_000, 7);
    let doc = upload(
        &mut owner,
        pb::UploadStart {
            folder: "Logement".into(),
            notes: "Hébergée au foyer depuis mai, dossier DALO en cours".into(),
            ..start(&new_id(), OWNER, bytes.len(), 0)
        },
        bytes,
    )
    .await
    .unwrap();
    let share = owner
        .create_share(pb::CreateShareRequest {
            owner_id: OWNER.into(),
            document_ids: vec![doc.id.clone()],
            recipient: "agence immobilière".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut anyone = app.client(None);
    let opened = anyone
        .open_share(pb::OpenShareRequest {
            code: share.code.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut streamed = anyone
        .download_shared(pb::DownloadSharedRequest {
            code: share.code,
            document_id: doc.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let (head, _, _) = collect(&mut streamed).await.unwrap();
    for seen in [&opened.documents[0], &head] {
        // What the recipient needs: what the paper is, and that it is the one sent.
        assert_eq!(seen.id, doc.id);
        assert_eq!(seen.title, "Carte d'identité");
        assert_eq!(seen.content_hash, doc.content_hash);
        // Not the person's file: their account, their advisor's notes, their folders, who filed it.
        assert_eq!(
            (
                seen.owner_id.as_str(),
                seen.notes.as_str(),
                seen.folder.as_str(),
                seen.created_by.as_str()
            ),
            ("", "", "", ""),
            "{seen:?}"
        );
    }
    // The owner still sees everything.
    let own = owner
        .get_document(pb::GetDocumentRequest {
            owner_id: OWNER.into(),
            document_id: doc.id,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(own.notes.contains("foyer") && own.folder == "Logement");
}
