//! What a review found and these tests hold shut: the clean-up pass racing an upload, the
//! quota raced by two uploads, a replayed upload id leaking a private document, an erased
//! vault brought back by a token still valid, and transfers holding memory without bound.

use std::sync::Arc;
use std::time::Duration;

use passerelle_access::Scope;
use passerelle_kit::clock::ManualClock;
use passerelle_proto::vault::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::helpers::{
    App, Client, OWNER, collect, download, limits, new_id, pdf, spawn_app, spawn_with, start,
    upload,
};

/// An upload whose messages the test sends one by one.
struct OpenUpload {
    tx: mpsc::Sender<pb::UploadRequest>,
    result: tokio::task::JoinHandle<Result<pb::Document, tonic::Status>>,
}

impl OpenUpload {
    async fn begin(client: &Client, start: pb::UploadStart) -> Self {
        let (tx, rx) = mpsc::channel(4);
        tx.send(pb::UploadRequest {
            part: Some(pb::upload_request::Part::Start(start)),
        })
        .await
        .unwrap();
        let mut client = client.clone();
        let result = tokio::spawn(async move {
            client
                .upload(ReceiverStream::new(rx))
                .await
                .map(|r| r.into_inner())
        });
        Self { tx, result }
    }

    async fn send(&self, bytes: &[u8]) {
        for chunk in bytes.chunks(64 * 1024) {
            // A closed stream (the server ended it) is what some tests wait for.
            let _ = self
                .tx
                .send(pb::UploadRequest {
                    part: Some(pb::upload_request::Part::Chunk(chunk.to_vec())),
                })
                .await;
        }
    }

    async fn finish(self) -> Result<pb::Document, tonic::Status> {
        drop(self.tx);
        self.result.await.unwrap()
    }
}

/// Waits until the upload has `bytes` stored (its parts recorded).
async fn stored(client: &Client, upload_id: &str, bytes: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = client
            .clone()
            .upload_status(pb::UploadStatusRequest {
                upload_id: upload_id.into(),
            })
            .await;
        if status
            .as_ref()
            .is_ok_and(|s| s.get_ref().received_bytes >= bytes)
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "upload stuck: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn documents(app: &App) -> Vec<pb::Document> {
    app.owner()
        .list_documents(pb::ListDocumentsRequest {
            owner_id: OWNER.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .documents
}

/// The clean-up pass abandons an upload untouched for a day while its stream is in fact still
/// open: the stream must then fail — never record a document whose first part is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_abandoned_under_its_stream_never_becomes_a_document_without_bytes() {
    let clock = ManualClock::starting_now();
    let app = spawn_with(limits(), clock.clone()).await;
    let owner = app.owner();
    let bytes = pdf(9 * 1024 * 1024, 7);
    let id = new_id();
    let open = OpenUpload::begin(&owner, start(&id, OWNER, bytes.len(), 0)).await;
    open.send(&bytes[..8 * 1024 * 1024 + 100]).await;
    stored(&owner, &id, 4 * 1024 * 1024).await;

    clock.advance(2 * 86_400);
    let report = app
        .service
        .cleanup(Duration::from_secs(86_400))
        .await
        .unwrap();
    assert_eq!(report.abandoned_uploads, 1, "{report:?}");

    open.send(&bytes[8 * 1024 * 1024 + 100..]).await;
    let outcome = open.finish().await;
    // Refused (ABORTED when the server's answer arrives before the client finishes sending;
    // the transport's own error when the stream is cut under the sender).
    outcome.expect_err("a document was recorded after its bytes were removed");
    assert!(documents(&app).await.is_empty());
    let status = owner
        .clone()
        .upload_status(pb::UploadStatusRequest { upload_id: id })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("abandoned"), "{status:?}");
}

/// The first stream of an upload fails between claiming its id and marking it open (a store
/// error on the second write): its resumption must mark it again, or the clean-up pass takes
/// its stored bytes for an orphan's and the upload then records a document without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_upload_is_marked_open_again_before_the_clean_up_sees_it() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    const MIB: usize = 1024 * 1024;
    let bytes = pdf(17 * MIB, 11);
    let id = new_id();
    let first = OpenUpload::begin(&owner, start(&id, OWNER, bytes.len(), 0)).await;
    first.send(&bytes[..8 * MIB + 100]).await;
    stored(&owner, &id, 4 * MIB as i64).await;
    first
        .finish()
        .await
        .expect_err("a short stream does not make a document");
    // What the failed write would have left: the claim without its open mark.
    app.store.delete("open_uploads", "open", &id).await.unwrap();

    let offset = owner
        .upload_status(pb::UploadStatusRequest {
            upload_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .received_bytes as usize;
    let second = OpenUpload::begin(&owner, start(&id, OWNER, bytes.len(), offset)).await;
    second.send(&bytes[offset..offset + 8 * MIB + 100]).await;
    stored(&owner, &id, (offset + 4 * MIB) as i64).await;
    let report = app
        .service
        .cleanup(Duration::from_secs(86_400))
        .await
        .unwrap();
    assert_eq!(
        report,
        passerelle_vault::service::Cleanup::default(),
        "the live upload's bytes were taken for an orphan's"
    );
    second.send(&bytes[offset + 8 * MIB + 100..]).await;
    let doc = second.finish().await.expect("the resumed upload completes");
    let (_, back, error) = download(&mut owner, OWNER, &doc.id).await.unwrap();
    assert!(error.is_none(), "{error:?}");
    assert!(back == bytes, "the document's bytes are not those sent");
}

/// Two uploads racing for the last room of a vault: exactly one lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uploads_racing_for_the_last_room_cannot_both_land() {
    let small = passerelle_vault::service::Limits {
        quota_bytes: 1_000_000,
        ..limits()
    };
    let app = spawn_with(small, Arc::new(passerelle_kit::clock::SystemClock)).await;
    let owner = app.owner();
    let (one, two) = (new_id(), new_id());
    let (a, b) = (pdf(600_000, 1), pdf(600_000, 2));
    let first = OpenUpload::begin(&owner, start(&one, OWNER, a.len(), 0)).await;
    let second = OpenUpload::begin(&owner, start(&two, OWNER, b.len(), 0)).await;
    // Both past their start (each saw an empty vault), neither finished.
    first.send(&a[..500_000]).await;
    second.send(&b[..500_000]).await;
    for id in [&one, &two] {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while owner
            .clone()
            .upload_status(pb::UploadStatusRequest {
                upload_id: id.clone(),
            })
            .await
            .is_err()
        {
            assert!(std::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    first.send(&a[500_000..]).await;
    second.send(&b[500_000..]).await;
    let (x, y) = (first.finish().await, second.finish().await);
    let landed = [&x, &y].iter().filter(|r| r.is_ok()).count();
    assert_eq!(landed, 1, "{x:?} / {y:?}");
    let refused = [x, y].into_iter().find_map(Result::err).unwrap();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let usage = app
        .owner()
        .get_usage(pb::GetUsageRequest {
            owner_id: OWNER.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(usage.bytes_used, 600_000);
}

/// Replaying a completed upload's id gives its document only to who may see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_upload_id_does_not_show_a_private_document_to_an_agent() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    let id = new_id();
    let bytes = pdf(30_000, 4);
    let mut private = start(&id, OWNER, bytes.len(), 0);
    private.private = true;
    upload(&mut owner, private, bytes.clone()).await.unwrap();
    app.mandate(&[Scope::Documents]).await;
    let replay = upload(
        &mut app.agent("ccas-nord"),
        start(&id, OWNER, bytes.len(), 0),
        bytes,
    )
    .await
    .unwrap_err();
    assert_eq!(replay.code(), Code::NotFound, "{replay:?}");
}

/// Once a vault is erased, the person's token (still valid for a few minutes) cannot make it
/// a new key and fill it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_vault_is_not_brought_back_by_a_late_token() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    upload(
        &mut owner,
        start(&new_id(), OWNER, 20_000, 0),
        pdf(20_000, 1),
    )
    .await
    .unwrap();
    app.service.erase_vault(OWNER).await.unwrap();
    let late = upload(
        &mut owner,
        start(&new_id(), OWNER, 20_000, 0),
        pdf(20_000, 2),
    )
    .await
    .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition, "{late:?}");
    assert!(late.message().contains("erased"), "{late:?}");
    assert!(
        app.store
            .get("vault_keys", OWNER, "")
            .await
            .unwrap()
            .is_none(),
        "a new vault key was made"
    );
    assert!(documents(&app).await.is_empty());
}

/// Transfers are bounded per person and in all, refused at once beyond; a quiet upload and a
/// stalled download end on their idle time and give their place back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_are_bounded_and_idle_ones_end() {
    let bounded = passerelle_vault::service::Limits {
        max_transfers: 3,
        max_transfers_per_caller: 2,
        stream_idle: Duration::from_millis(700),
        ..limits()
    };
    let app = spawn_with(bounded, Arc::new(passerelle_kit::clock::SystemClock)).await;
    let owner = app.owner();
    // Large enough that a reader taking nothing cannot absorb it in the transport's windows
    // and the server's buffers (about 10 MiB in all).
    let doc = upload(
        &mut owner.clone(),
        start(&new_id(), OWNER, 24_000_000, 0),
        pdf(24_000_000, 9),
    )
    .await
    .unwrap();
    let first = OpenUpload::begin(&owner, start(&new_id(), OWNER, 100_000, 0)).await;
    let second = OpenUpload::begin(&owner, start(&new_id(), OWNER, 100_000, 0)).await;
    first.send(&pdf(10_000, 1)).await;
    second.send(&pdf(10_000, 2)).await;
    // Both are under way once their first chunk is in; the third of one person is refused.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = upload(
        &mut owner.clone(),
        start(&new_id(), OWNER, 10_000, 0),
        pdf(10_000, 3),
    )
    .await
    .unwrap_err();
    assert_eq!(third.code(), Code::ResourceExhausted, "{third:?}");
    assert!(third.message().contains("2 documents moving"), "{third:?}");

    // The two uploads go quiet: each ends on its idle time, and says why.
    for open in [first, second] {
        let ended = open.finish().await.unwrap_err();
        assert!(
            matches!(ended.code(), Code::DeadlineExceeded | Code::InvalidArgument),
            "{ended:?}"
        );
    }

    // A download whose reader takes nothing holds its place only for the idle time.
    let stalled = owner
        .clone()
        .download(pb::DownloadRequest {
            owner_id: OWNER.into(),
            document_id: doc.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let also = owner
        .clone()
        .download(pb::DownloadRequest {
            owner_id: OWNER.into(),
            document_id: doc.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let refused = owner
        .clone()
        .download(pb::DownloadRequest {
            owner_id: OWNER.into(),
            document_id: doc.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let again = owner
        .clone()
        .download(pb::DownloadRequest {
            owner_id: OWNER.into(),
            document_id: doc.id,
        })
        .await;
    assert!(
        again.is_ok(),
        "the stalled downloads kept their places: {again:?}"
    );
    // The reader that came back gets what was sent, then an error: never a cut file with OK.
    let mut stalled = stalled;
    let (_, got, ended) = collect(&mut stalled).await.unwrap();
    assert!(got.len() < 24_000_000, "{} bytes", got.len());
    let ended = ended.expect("an error after the bytes sent");
    assert_eq!(ended.code(), Code::Aborted, "{ended:?}");
    assert!(ended.message().contains("start it again"), "{ended:?}");
    drop(also);
}

/// A document's title and notes say whose papers these are: they are stored sealed with the
/// vault key, never as they are, so erasing the vault takes them along — rows restored from a
/// backup included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_and_notes_are_sealed_and_go_with_the_vault() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    let mut meta = start(&new_id(), OWNER, 30_000, 0);
    meta.title = "Titre de séjour de Mme Diallo".into();
    meta.notes = "renouvellement en mars, préfecture d'Amiens".into();
    let doc = upload(&mut owner, meta, pdf(30_000, 5)).await.unwrap();
    assert_eq!(doc.title, "Titre de séjour de Mme Diallo");
    let listed = documents(&app).await;
    assert_eq!(
        listed[0].notes,
        "renouvellement en mars, préfecture d'Amiens"
    );

    let raw_docs = app.store.scan_all("documents", OWNER).await.unwrap();
    let raw_upload = app.store.scan_all("uploads", &listed[0].id).await.unwrap();
    for (_, bytes) in raw_docs.iter().chain(&raw_upload) {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("Diallo") && !text.contains("renouvellement"),
            "{text}"
        );
    }

    // Erased, then the document rows put back as a backup would: nothing of them opens.
    app.service.erase_vault(OWNER).await.unwrap();
    let restored: Vec<passerelle_store::Mutation> = raw_docs
        .iter()
        .map(|(ck, v)| passerelle_store::Row::new("documents", OWNER, ck, v.clone()).into())
        .collect();
    app.store.batch(restored).await.unwrap();
    let after = app
        .owner()
        .list_documents(pb::ListDocumentsRequest {
            owner_id: OWNER.into(),
            ..Default::default()
        })
        .await;
    match after {
        Ok(list) => assert!(
            list.get_ref()
                .documents
                .iter()
                .all(|d| !d.title.contains("Diallo")),
            "{list:?}"
        ),
        Err(status) => assert!(
            matches!(status.code(), Code::NotFound | Code::DataLoss),
            "{status:?}"
        ),
    }
}
