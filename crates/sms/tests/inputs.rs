//! A gateway that answers garbage — random bytes, a PDU header with a lying length, a cut
//! response — must give UNAVAILABLE in bounded time, never a panic or a hang. `PROPTEST_CASES`
//! sets how many answers are tried.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use passerelle_core::ServiceError;
use passerelle_sms::{SmppSender, SmppUrl, SmsSender};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An answer a broken or hostile SMSC might send: random bytes, or an SMPP header whose
/// fields are random (length, command, status, sequence), with a random body.
fn answer() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        (
            any::<u32>(),
            prop_oneof![Just(0x8000_0002u32), Just(0x8000_0004u32), any::<u32>()],
            any::<u32>(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(len, command, status, seq, body)| {
                let mut pdu = Vec::new();
                for field in [len % 512, command, status % 16, seq] {
                    pdu.extend_from_slice(&field.to_be_bytes());
                }
                pdu.extend(body);
                pdu
            }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_the_gateway_is_unavailable_not_a_panic() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(12);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    runner
        .run(&answer(), |bytes| {
            tokio::task::block_in_place(|| {
                handle.block_on(async {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let port = listener.local_addr().unwrap().port();
                    let server = tokio::spawn(async move {
                        if let Ok((mut socket, _)) = listener.accept().await {
                            let mut request = [0u8; 512];
                            let _ = socket.read(&mut request).await;
                            let _ = socket.write_all(&bytes).await;
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                    });
                    let sender = SmppSender::new(
                        SmppUrl::parse(&format!("smpp://ccas:pw@127.0.0.1:{port}")).unwrap(),
                    )
                    .with_timeout(Duration::from_millis(700));
                    let outcome = tokio::time::timeout(
                        Duration::from_secs(10),
                        sender.send("+33612345678", "Passerelle : test"),
                    )
                    .await;
                    server.abort();
                    let outcome = outcome.expect("the sender hung on a broken gateway");
                    prop_assert!(
                        matches!(outcome, Err(ServiceError::Unavailable(_))),
                        "{outcome:?}"
                    );
                    Ok(())
                })
            })
        })
        .unwrap();
}
