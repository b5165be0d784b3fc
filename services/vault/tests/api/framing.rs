//! Upload framing from outside: any file, cut into any chunks, with a declared size right or
//! wrong — the vault stores exactly the bytes sent, or refuses with a clear error; it never
//! answers with an internal failure. `PROPTEST_CASES` sets how many uploads (16 by default:
//! each is a real stream).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tonic::Code;

use crate::helpers::{OWNER, download, new_id, pdf, spawn_app, start};
use passerelle_proto::vault::v1 as pb;

#[derive(Clone, Debug)]
struct Case {
    len: usize,
    seed: u64,
    /// Declared size minus the real one.
    delta: i64,
    chunks: Vec<usize>,
    /// Not a PDF: the first bytes are garbage.
    garbage: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![
            1usize..70_000,
            4_194_000usize..4_194_700,
            8_388_000usize..8_388_800
        ],
        any::<u64>(),
        prop_oneof![Just(0i64), -2i64..=2],
        prop::collection::vec(1usize..300_000, 1..8),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(len, seed, delta, chunks, garbage)| Case {
            len,
            seed,
            delta,
            chunks,
            garbage,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_framing_stores_exactly_the_bytes_or_says_why() {
    let app = spawn_app().await;
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(16);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let result = runner.run(&case(), |case| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let mut bytes = pdf(case.len, case.seed);
                if case.garbage {
                    for b in bytes.iter_mut().take(16) {
                        *b = 0x07;
                    }
                }
                let declared = (case.len as i64 + case.delta).max(0) as usize;
                let mut messages = vec![pb::UploadRequest {
                    part: Some(pb::upload_request::Part::Start(start(
                        &new_id(),
                        OWNER,
                        declared,
                        0,
                    ))),
                }];
                let mut at = 0;
                let mut sizes = case.chunks.iter().cycle();
                while at < bytes.len() {
                    let end = (at + sizes.next().copied().unwrap_or(1)).min(bytes.len());
                    messages.push(pb::UploadRequest {
                        part: Some(pb::upload_request::Part::Chunk(bytes[at..end].to_vec())),
                    });
                    at = end;
                }
                let outcome = app.owner().upload(tokio_stream::iter(messages)).await;
                match outcome {
                    Ok(doc) => {
                        let doc = doc.into_inner();
                        prop_assert!(case.delta == 0 && !case.garbage, "accepted: {case:?}");
                        let (_, got, error) =
                            download(&mut app.owner(), OWNER, &doc.id).await.unwrap();
                        prop_assert!(error.is_none());
                        prop_assert!(got == bytes, "stored bytes differ");
                    }
                    Err(status) => {
                        prop_assert!(
                            !matches!(
                                status.code(),
                                Code::Internal | Code::Unknown | Code::DataLoss
                            ),
                            "{case:?}: {status:?}"
                        );
                        prop_assert!(!status.message().is_empty());
                        prop_assert!(
                            case.delta != 0 || case.garbage || declared == 0,
                            "refused a good upload {case:?}: {status:?}"
                        );
                    }
                }
                Ok(())
            })
        })
    });
    result.unwrap();
}
