//! Altered storage never yields wrong bytes: a flipped bit in a stored part or in a wrapped key
//! fails the read loudly (DATA_LOSS), after which nothing more is sent.

use tonic::Code;

use crate::helpers::{OWNER, download, new_id, pdf, spawn_app, start, upload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_part_fails_the_read_and_no_wrong_byte_comes_out() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    let bytes = pdf(9 * 1024 * 1024, 5);
    let doc = upload(
        &mut owner,
        start(&new_id(), OWNER, bytes.len(), 0),
        bytes.clone(),
    )
    .await
    .unwrap();

    // One bit flipped in the middle of the second part.
    let part = app.blob_dir.join(format!("docs/{OWNER}/{}/000001", doc.id));
    let mut sealed = std::fs::read(&part).unwrap();
    let middle = sealed.len() / 2;
    sealed[middle] ^= 0x01;
    std::fs::write(&part, &sealed).unwrap();

    let (_, got, error) = download(&mut owner, OWNER, &doc.id).await.unwrap();
    let error = error.expect("the read must fail");
    assert_eq!(error.code(), Code::DataLoss, "{error:?}");
    assert!(
        error.message().contains("is damaged in storage"),
        "{}",
        error.message()
    );
    assert_eq!(
        got.len(),
        4 * 1024 * 1024,
        "only the intact first part was sent"
    );
    assert!(got[..] == bytes[..got.len()], "a wrong byte came out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_key_or_a_swapped_part_fails_the_read() {
    let app = spawn_app().await;
    let mut owner = app.owner();
    let a = upload(
        &mut owner,
        start(&new_id(), OWNER, 300_000, 0),
        pdf(300_000, 6),
    )
    .await
    .unwrap();
    let b = upload(
        &mut owner,
        start(&new_id(), OWNER, 300_000, 0),
        pdf(300_000, 7),
    )
    .await
    .unwrap();

    // Document b's bytes put in place of a's: each part is bound to its document.
    let part = |doc: &str| app.blob_dir.join(format!("docs/{OWNER}/{doc}/000000"));
    std::fs::copy(part(&b.id), part(&a.id)).unwrap();
    let (_, got, error) = download(&mut owner, OWNER, &a.id).await.unwrap();
    assert_eq!(error.unwrap().code(), Code::DataLoss);
    assert!(got.is_empty());

    // The wrapped key of b altered in the store.
    let raw = app
        .store
        .get("documents", OWNER, &b.id)
        .await
        .unwrap()
        .unwrap();
    let mut record: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let key = record["wrapped_key"].as_array_mut().unwrap();
    let byte = key[20].as_u64().unwrap();
    key[20] = serde_json::json!(byte ^ 1);
    app.store
        .put(passerelle_store::Row::new(
            "documents",
            OWNER,
            &b.id,
            serde_json::to_vec(&record).unwrap(),
        ))
        .await
        .unwrap();
    let refused = download(&mut owner, OWNER, &b.id).await.unwrap_err();
    assert_eq!(refused.code(), Code::DataLoss);
    assert!(
        refused.message().contains("its key does not open"),
        "{}",
        refused.message()
    );
}
