//! A thousand wrong secrets: the answers never tell whether the account exists, the waits
//! never pass the documented 15 minutes, the right secret then works, and no secret is logged.

use std::sync::{Arc, Mutex};

use passerelle_access::throttle::MAX_DELAY;
use passerelle_identity::IdpChoice;
use passerelle_identity::service::WRONG_CREDENTIALS;
use passerelle_kit::clock::ManualClock;
use passerelle_proto::identity::v1 as pb;
use tonic::Code;

use crate::helpers::{ADMIN, spawn_with};

/// Captures log output.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_thousand_wrong_secrets_reveal_nothing_and_lock_no_one_out_for_good() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let clock = ManualClock::starting_now();
    let app = spawn_with(IdpChoice::BuiltIn, clock.clone(), ADMIN).await;
    let admin = app.admin().await;
    app.create(&admin, pb::Role::Agent, "agent-nord", "ccas-nord", "")
        .await;
    let agent = app.token_of("agent-nord").await;
    app.create(&agent, pb::Role::Beneficiary, "marie-curie", "", "")
        .await;

    // The same thousand attempts on an account that exists and on a name that does not, each
    // from its own address: the answers must be the same, wait for wait.
    let mut transcripts = Vec::new();
    for (username, source) in [
        ("marie-curie", "198.51.100.1"),
        ("marie-curix", "198.51.100.2"),
    ] {
        let mut transcript = Vec::new();
        let mut longest_wait = 0;
        let mut attempts = 0;
        let mut answers = 0;
        while attempts < 1_000 {
            answers += 1;
            assert!(
                answers < 5_000,
                "the throttle never lets an attempt through"
            );
            match app
                .service
                .login(username, &format!("wrong-guess-{attempts}"), source)
                .await
            {
                Ok(_) => panic!("a wrong secret signed in"),
                Err(e) => {
                    let status: tonic::Status = e.into();
                    transcript.push((status.code(), status.message().to_owned()));
                    match status.code() {
                        Code::ResourceExhausted => {
                            let wait: i64 = status
                                .message()
                                .split_whitespace()
                                .find_map(|w| w.parse().ok())
                                .expect("the answer says how long to wait");
                            longest_wait = longest_wait.max(wait);
                            clock.advance(wait);
                        }
                        Code::Unauthenticated => {
                            assert_eq!(status.message(), WRONG_CREDENTIALS);
                            attempts += 1;
                        }
                        other => panic!("unexpected {other:?}: {}", status.message()),
                    }
                }
            }
        }
        assert!(
            longest_wait <= MAX_DELAY,
            "waited {longest_wait}s, more than the documented {MAX_DELAY}s"
        );
        assert_eq!(
            longest_wait, MAX_DELAY,
            "the waits do reach the bound after 1,000 failures"
        );
        transcripts.push(transcript);
    }
    assert_eq!(
        transcripts[0], transcripts[1],
        "the answers tell whether the account exists"
    );

    // The owner comes back: at most one more wait, then the right secret works.
    let right = loop {
        match app
            .service
            .login("marie-curie", "marie-curie-secret", "198.51.100.9")
            .await
        {
            Ok(token) => break token,
            Err(e) => {
                let status: tonic::Status = e.into();
                assert_eq!(
                    status.code(),
                    Code::ResourceExhausted,
                    "{}",
                    status.message()
                );
                let wait: i64 = status
                    .message()
                    .split_whitespace()
                    .find_map(|w| w.parse().ok())
                    .unwrap();
                assert!(wait <= MAX_DELAY);
                clock.advance(wait);
            }
        }
    };
    assert!(!right.access_token.is_empty());

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("sign-in failed"), "failures are logged");
    assert!(
        !logs.contains("wrong-guess"),
        "a tried secret reached the logs"
    );
    assert!(
        !logs.contains("marie-curie-secret"),
        "the secret reached the logs"
    );
    assert!(
        !logs.contains("marie-curix"),
        "a typed username reached the logs"
    );
}
