//! Streaming in and out: round trips, idempotent and resumable uploads, and every kind of bad
//! input refused with a clear message and nothing stored.

use tonic::Code;

use crate::helpers::{OWNER, download, new_id, pdf, spawn_app, start, upload, upload_stream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_comes_back_byte_for_byte() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    // Three parts: 4 MiB, 4 MiB and a bit.
    let bytes = pdf(9 * 1024 * 1024 + 123, 1);
    let doc = upload(
        &mut owner,
        start(&new_id(), OWNER, bytes.len(), 0),
        bytes.clone(),
    )
    .await
    .unwrap();
    assert_eq!(doc.size_bytes, bytes.len() as i64);
    assert_eq!(doc.content_type, "application/pdf");
    assert_eq!(doc.content_hash.len(), 64);

    let (meta, back, error) = download(&mut owner, OWNER, &doc.id).await.unwrap();
    assert!(error.is_none(), "{error:?}");
    assert_eq!(meta.id, doc.id);
    assert!(back == bytes, "the bytes came back different");

    let listed = owner
        .list_documents(passerelle_proto::vault::v1::ListDocumentsRequest {
            owner_id: OWNER.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.documents.len(), 1);
    let usage = owner
        .get_usage(passerelle_proto::vault::v1::GetUsageRequest {
            owner_id: OWNER.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((usage.bytes_used, usage.documents), (bytes.len() as i64, 1));

    // Nothing readable lies on disk: the stored parts are ciphertext.
    let part = std::fs::read(app.blob_dir.join(format!("docs/{OWNER}/{}/000000", doc.id))).unwrap();
    assert!(
        !part.windows(8).any(|w| w == &bytes[..8]),
        "plaintext found in storage"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_upload_id_never_makes_two_documents() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    let (id, bytes) = (new_id(), pdf(200_000, 2));
    let first = upload(&mut owner, start(&id, OWNER, bytes.len(), 0), bytes.clone())
        .await
        .unwrap();
    let again = upload(&mut owner, start(&id, OWNER, bytes.len(), 0), bytes.clone())
        .await
        .unwrap();
    assert_eq!(first.id, again.id);
    let listed = owner
        .list_documents(passerelle_proto::vault::v1::ListDocumentsRequest {
            owner_id: OWNER.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.documents.len(), 1);
    let other_file = upload(&mut owner, start(&id, OWNER, 999, 0), pdf(999, 3))
        .await
        .unwrap_err();
    assert_eq!(other_file.code(), Code::InvalidArgument);
    assert!(
        other_file.message().contains("belongs to another file"),
        "{}",
        other_file.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_upload_resumes_where_it_stopped() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    let (id, bytes) = (new_id(), pdf(10 * 1024 * 1024, 4));

    // The connection drops after 6 MiB: the stream ends short.
    let cut = 6 * 1024 * 1024;
    let truncated = upload(
        &mut owner,
        start(&id, OWNER, bytes.len(), 0),
        bytes[..cut].to_vec(),
    )
    .await
    .unwrap_err();
    assert_eq!(truncated.code(), Code::InvalidArgument);
    assert!(
        truncated
            .message()
            .starts_with("truncated: 6291456 of 10485760 bytes arrived"),
        "{}",
        truncated.message()
    );
    let listed = owner
        .list_documents(passerelle_proto::vault::v1::ListDocumentsRequest {
            owner_id: OWNER.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.documents.is_empty(), "a partial document is visible");

    let status = owner
        .upload_status(passerelle_proto::vault::v1::UploadStatusRequest {
            upload_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.received_bytes,
        4 * 1024 * 1024,
        "whole parts are kept"
    );
    let wrong = upload(&mut owner, start(&id, OWNER, bytes.len(), 0), bytes.clone())
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::FailedPrecondition);
    assert!(
        wrong.message().contains("send again from byte 4194304"),
        "{}",
        wrong.message()
    );

    let from = status.received_bytes as usize;
    let doc = upload(
        &mut owner,
        start(&id, OWNER, bytes.len(), from),
        bytes[from..].to_vec(),
    )
    .await
    .unwrap();
    let (_, back, error) = download(&mut owner, OWNER, &doc.id).await.unwrap();
    assert!(error.is_none());
    assert!(back == bytes);
    let done = owner
        .upload_status(passerelle_proto::vault::v1::UploadStatusRequest { upload_id: id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.document.unwrap().id, doc.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    let cases: Vec<(Result<_, tonic::Status>, Code, &str)> = vec![
        (
            upload(
                &mut owner,
                start(&new_id(), OWNER, 20_000, 0),
                b"MZ\x90\x00\x03\x00\x00\x00"
                    .iter()
                    .copied()
                    .cycle()
                    .take(20_000)
                    .collect(),
            )
            .await,
            Code::InvalidArgument,
            "accepted are PDF, photos and scans",
        ),
        (
            upload(&mut owner, start(&new_id(), OWNER, 100, 0), vec![b'a'; 100]).await,
            Code::InvalidArgument,
            "this file is unknown",
        ),
        (
            upload(
                &mut owner,
                start(&new_id(), OWNER, 60_000_000, 0),
                pdf(10, 1),
            )
            .await,
            Code::ResourceExhausted,
            "at most 50000000 bytes (50 MB)",
        ),
        (
            upload(&mut owner, start(&new_id(), OWNER, 1000, 0), pdf(2000, 1)).await,
            Code::InvalidArgument,
            "more bytes than the 1000 declared",
        ),
        (
            upload(&mut owner, start(&new_id(), OWNER, 0, 0), vec![]).await,
            Code::InvalidArgument,
            "an empty file cannot be stored",
        ),
        (
            upload(&mut owner, start("not-a-uuid", OWNER, 10, 0), pdf(10, 1)).await,
            Code::InvalidArgument,
            "expected a UUID",
        ),
        (
            upload(
                &mut owner,
                pb_with_date(start(&new_id(), OWNER, 10, 0)),
                pdf(10, 1),
            )
            .await,
            Code::InvalidArgument,
            "expected YYYY-MM-DD",
        ),
        (
            upload(&mut owner, start(&new_id(), OWNER, 10, 5), pdf(5, 1)).await,
            Code::FailedPrecondition,
            "start at offset 0",
        ),
    ];
    for (result, code, expected) in cases {
        let status = result.expect_err("bad input was accepted");
        assert_eq!(status.code(), code, "{}", status.message());
        assert!(
            status.message().contains(expected),
            "`{expected}` not in: {}",
            status.message()
        );
    }
    let chunk_first = owner
        .upload(tokio_stream::iter(vec![
            passerelle_proto::vault::v1::UploadRequest {
                part: Some(passerelle_proto::vault::v1::upload_request::Part::Chunk(
                    vec![1, 2, 3],
                )),
            },
        ]))
        .await
        .unwrap_err();
    assert!(
        chunk_first
            .message()
            .contains("the first message of an upload is UploadStart")
    );
    let unknown = download(&mut owner, OWNER, "no-such-document")
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(
        unknown.message(),
        "no document `no-such-document` in this vault"
    );

    let listed = owner
        .list_documents(passerelle_proto::vault::v1::ListDocumentsRequest {
            owner_id: OWNER.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.documents.is_empty());
    let usage = owner
        .get_usage(passerelle_proto::vault::v1::GetUsageRequest {
            owner_id: OWNER.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(usage.bytes_used, 0);
    let _ = upload_stream;
}

fn pb_with_date(
    mut s: passerelle_proto::vault::v1::UploadStart,
) -> passerelle_proto::vault::v1::UploadStart {
    s.expires_on = "31/12/2030".into();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_vault_says_so() {
    let mut limits = crate::helpers::limits();
    limits.quota_bytes = 1_000_000;
    let app = crate::helpers::spawn_with(
        limits,
        std::sync::Arc::new(passerelle_kit::clock::SystemClock),
    )
    .await;
    let mut owner = app.owner();
    upload(
        &mut owner,
        start(&new_id(), OWNER, 700_000, 0),
        pdf(700_000, 1),
    )
    .await
    .unwrap();
    let full = upload(
        &mut owner,
        start(&new_id(), OWNER, 400_000, 0),
        pdf(400_000, 2),
    )
    .await
    .unwrap_err();
    assert_eq!(full.code(), Code::ResourceExhausted);
    assert!(
        full.message()
            .contains("this vault holds 700000 of its 1000000 bytes"),
        "{}",
        full.message()
    );
}
