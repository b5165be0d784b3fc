//! The gRPC server every service runs: authentication, overload, timeouts, request ids,
//! trace context and graceful drain, observed from a real client over loopback.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use passerelle_kit::CancellationToken;
use passerelle_kit::auth::{JwtVerifier, KeySource};
use passerelle_kit::config::ServerArgs;
use passerelle_kit::server::{GrpcServer, principal};
use passerelle_kit::testing::{TEST_ISSUER as ISSUER, TestIssuer, now};
use passerelle_proto::platform::v1::platform_client::PlatformClient;
use passerelle_proto::platform::v1::platform_server::{Platform, PlatformServer};
use passerelle_proto::platform::v1::{InfoRequest, InfoResponse};
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

/// Answers with the caller's subject, after `delay`.
struct Echo {
    delay: Duration,
}

#[tonic::async_trait]
impl Platform for Echo {
    async fn info(&self, request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let subject = principal(&request)?.subject.clone();
        tokio::time::sleep(self.delay).await;
        Ok(Response::new(InfoResponse {
            version: subject,
            ..Default::default()
        }))
    }
}

struct Running {
    channel: Channel,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

async fn spawn(issuer: &TestIssuer, delay: Duration, args: ServerArgs) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let verifier = JwtVerifier::new(
        ISSUER,
        None,
        KeySource::Static(TestIssuer::jwks_of(&[issuer])),
    );
    let shutdown = CancellationToken::new();
    let server = GrpcServer::new(args)
        .with_auth(Some(verifier))
        .add_service(PlatformServer::new(Echo { delay }));
    let task = tokio::spawn(server.serve(listener, shutdown.clone()));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Running {
        channel,
        shutdown,
        task,
    }
}

fn with_token(token: &str) -> Request<InfoRequest> {
    let mut request = Request::new(InfoRequest {});
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[tokio::test]
async fn tokens_are_verified_before_the_service_runs() {
    let issuer = TestIssuer::new("k1");
    let server = spawn(&issuer, Duration::ZERO, ServerArgs::default()).await;
    let mut client = PlatformClient::new(server.channel.clone());

    let ok = client
        .info(with_token(&issuer.sign(&TestIssuer::claims(
            "person-1",
            &["beneficiary"],
            None,
        ))))
        .await
        .unwrap();
    assert_eq!(ok.into_inner().version, "person-1");

    let missing = client.info(InfoRequest {}).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(
        missing.message().starts_with("missing bearer token"),
        "{}",
        missing.message()
    );

    let forged = TestIssuer::new("k1").sign(&TestIssuer::claims("person-1", &["admin"], None));
    let refused = client.info(with_token(&forged)).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(
        refused.message().contains("signature does not verify"),
        "{}",
        refused.message()
    );

    let mut claims = TestIssuer::claims("person-1", &[], None);
    claims["exp"] = serde_json::json!(now() - 3600);
    let expired = client
        .info(with_token(&issuer.sign(&claims)))
        .await
        .unwrap_err();
    assert_eq!(
        (expired.code(), expired.message()),
        (
            Code::Unauthenticated,
            "token expired: sign in again for a new one"
        )
    );
}

#[tokio::test]
async fn beyond_the_concurrency_limit_calls_are_shed_not_queued() {
    let issuer = TestIssuer::new("k1");
    let args = ServerArgs {
        max_concurrent_requests: 2,
        ..ServerArgs::default()
    };
    let server = spawn(&issuer, Duration::from_millis(800), args).await;
    let token = issuer.sign(&TestIssuer::claims("p", &[], None));
    let calls = (0..6).map(|_| {
        let mut client = PlatformClient::new(server.channel.clone());
        let request = with_token(&token);
        async move { client.info(request).await }
    });
    let results = futures::future::join_all(calls).await;
    let served = results.iter().filter(|r| r.is_ok()).count();
    let shed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(served >= 2, "served {served}");
    assert!(
        !shed.is_empty(),
        "nothing was shed with 6 calls over a limit of 2"
    );
    for status in shed {
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "server overloaded: retry in a moment");
    }
}

#[tokio::test]
async fn slow_calls_time_out_and_request_ids_come_back() {
    let issuer = TestIssuer::new("k1");
    let args = ServerArgs {
        request_timeout: Duration::from_millis(200),
        ..ServerArgs::default()
    };
    let server = spawn(&issuer, Duration::from_secs(5), args).await;
    let mut client = PlatformClient::new(server.channel.clone());
    let err = client
        .info(with_token(&issuer.sign(&TestIssuer::claims(
            "p",
            &[],
            None,
        ))))
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{err:?}"
    );

    let fast = spawn(&issuer, Duration::ZERO, ServerArgs::default()).await;
    let mut client = PlatformClient::new(fast.channel.clone());
    let mut request = with_token(&issuer.sign(&TestIssuer::claims("p", &[], None)));
    request
        .metadata_mut()
        .insert("x-request-id", "req-42".parse().unwrap());
    let response = client.info(request).await.unwrap();
    assert_eq!(response.metadata().get("x-request-id").unwrap(), "req-42");
    let generated = client
        .info(with_token(&issuer.sign(&TestIssuer::claims(
            "p",
            &[],
            None,
        ))))
        .await
        .unwrap();
    assert!(
        generated.metadata().get("x-request-id").is_some(),
        "a request id is made up when none is sent"
    );
}

#[tokio::test]
async fn shutdown_lets_in_flight_calls_finish() {
    let issuer = TestIssuer::new("k1");
    let server = spawn(&issuer, Duration::from_millis(700), ServerArgs::default()).await;
    let mut client = PlatformClient::new(server.channel.clone());
    let token = issuer.sign(&TestIssuer::claims("person-9", &[], None));
    let in_flight = tokio::spawn(async move { client.info(with_token(&token)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.shutdown.cancel();
    let answer = in_flight
        .await
        .unwrap()
        .expect("the in-flight call was cut");
    assert_eq!(answer.into_inner().version, "person-9");
    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("the server did not stop after draining")
        .unwrap()
        .unwrap();
}

/// With a certificate and key, the server speaks TLS only: a client trusting the city's CA
/// gets through, a plaintext one does not.
#[tokio::test]
async fn with_a_certificate_the_server_speaks_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(
            &server_key,
            &rcgen::Issuer::from_params(&ca_params, &ca_key),
        )
        .unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let args = ServerArgs {
        tls_cert: Some(write("server.pem", server_cert.pem())),
        tls_key: Some(write("server.key", server_key.serialize_pem())),
        ..ServerArgs::default()
    };
    let ca_file = write("ca.pem", ca.pem());
    passerelle_kit::server::check_tls(&args).unwrap();

    let issuer = TestIssuer::new("k1");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = CancellationToken::new();
    let server = GrpcServer::new(args)
        .with_auth(Some(JwtVerifier::new(
            ISSUER,
            None,
            KeySource::Static(TestIssuer::jwks_of(&[&issuer])),
        )))
        .add_service(PlatformServer::new(Echo {
            delay: Duration::ZERO,
        }));
    tokio::spawn(server.serve(listener, shutdown.clone()));
    let token = issuer.sign(&TestIssuer::claims("person-tls", &[], None));

    let endpoint =
        passerelle_kit::server::endpoint(&format!("https://localhost:{port}"), Some(&ca_file))
            .unwrap();
    let mut client = PlatformClient::new(endpoint.connect().await.unwrap());
    let answer = client.info(with_token(&token)).await.unwrap().into_inner();
    assert_eq!(answer.version, "person-tls");

    let plain = tonic::transport::Endpoint::from_shared(format!("http://localhost:{port}"))
        .unwrap()
        .connect()
        .await;
    let refused = match plain {
        Err(_) => true,
        Ok(channel) => PlatformClient::new(channel)
            .info(with_token(&token))
            .await
            .is_err(),
    };
    assert!(refused, "a plaintext client was served");
    shutdown.cancel();
}
