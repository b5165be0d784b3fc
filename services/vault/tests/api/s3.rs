//! The vault on S3 (`PASSERELLE_TEST_S3`: S3Proxy in the test run, speaking the S3 protocol as
//! the city's object storage will): the same round trip, resume, tamper check and clean-up as
//! on local disk.

use std::sync::Arc;
use std::time::Duration;

use passerelle_kit::clock::SystemClock;
use passerelle_vault::blobs::Blobs;
use tonic::Code;

use crate::helpers::{
    OWNER, download, limits, new_id, pdf, spawn_on, start, upload, upload_stream,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_round_trip_resume_and_stay_authenticated_on_s3() {
    let Some(base) =
        passerelle_store::conformance::server_address("PASSERELLE_TEST_S3", "S3 (S3Proxy)")
    else {
        return;
    };
    // A prefix of its own in the shared bucket.
    let (bucket, query) = base.split_once('?').unwrap();
    let url = format!("{bucket}/run-{}?{query}", new_id());
    let app = spawn_on(limits(), Arc::new(SystemClock), Some(url.clone())).await;
    let mut owner = app.owner();

    let bytes = pdf(9 * 1024 * 1024, 11);
    let id = new_id();
    let truncated = upload(
        &mut owner,
        start(&id, OWNER, bytes.len(), 0),
        bytes[..5 * 1024 * 1024].to_vec(),
    )
    .await
    .unwrap_err();
    assert_eq!(truncated.code(), Code::InvalidArgument);
    let from = 4 * 1024 * 1024;
    let doc = upload(
        &mut owner,
        start(&id, OWNER, bytes.len(), from),
        bytes[from..].to_vec(),
    )
    .await
    .unwrap();
    let (_, back, error) = download(&mut owner, OWNER, &doc.id).await.unwrap();
    assert!(error.is_none(), "{error:?}");
    assert!(back == bytes, "the bytes came back different from S3");

    // One bit flipped in the stored object: the read fails, no wrong byte comes out.
    let blobs = Blobs::open(&url).unwrap();
    let mut part = blobs.get_part(OWNER, &doc.id, 2).await.unwrap();
    part[100] ^= 1;
    blobs.put_part(OWNER, &doc.id, 2, part).await.unwrap();
    let (_, got, error) = download(&mut owner, OWNER, &doc.id).await.unwrap();
    assert_eq!(error.unwrap().code(), Code::DataLoss);
    assert!(got[..] == bytes[..got.len()]);

    // An upload abandoned after one part leaves nothing behind once cleaned up.
    let abandoned = new_id();
    let _ = owner
        .upload(upload_stream(
            start(&abandoned, OWNER, bytes.len(), 0),
            bytes[..5 * 1024 * 1024].to_vec(),
        ))
        .await;
    assert_eq!(blobs.documents().await.unwrap().len(), 2);
    let report = app.service.cleanup(Duration::ZERO).await.unwrap();
    assert_eq!(report.abandoned_uploads, 1);
    let left = blobs.documents().await.unwrap();
    assert_eq!(left, [(OWNER.to_owned(), doc.id.clone())]);
}
