//! SMS over SMPP against a real SMPP 3.4 peer: the SMSC side of the `smpp34` crate, running
//! in-process. (An operator's gateway is paid and cannot run here; this speaks the same
//! protocol, PDU for PDU.)
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use passerelle_sms::{SmppSender, SmppUrl, SmsSender};
use smpp34::{
    SmppConnectionInformation, SmppError, SmppServer, SmppServerListener, TlvList,
    bind_transmitter, bind_transmitter_resp, submit_sm, submit_sm_resp,
};
use tokio::sync::Mutex;

/// An SMSC that accepts `ccas`/`s3cret` and keeps what it is sent.
#[derive(Default)]
struct Smsc {
    received: Mutex<Vec<submit_sm>>,
}

#[async_trait]
impl SmppServerListener for Smsc {
    async fn on_bind_transmitter(
        &self,
        req: bind_transmitter,
        _c: &SmppConnectionInformation,
        _s: &String,
    ) -> bind_transmitter_resp {
        if req.system_id == "ccas" && req.password == "s3cret" {
            req.accept("TestSMSC".into(), Some(0x34))
        } else {
            req.reject(SmppError::ESME_RINVPASWD)
        }
    }

    async fn on_submit_sm(
        &self,
        req: submit_sm,
        _c: &SmppConnectionInformation,
        _s: &String,
    ) -> submit_sm_resp {
        self.received.lock().await.push(req.clone());
        req.accept(format!("msg-{}", self.received.lock().await.len()))
    }
}

async fn smsc() -> (Arc<Smsc>, SmppServer, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let handler = Arc::new(Smsc::default());
    let mut server = SmppServer::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port, handler.clone());
    server.start().await;
    (handler, server, port)
}

#[tokio::test]
async fn a_message_reaches_the_smsc_in_ucs2_with_accents() {
    let (smsc, mut server, port) = smsc().await;
    let url = SmppUrl::parse(&format!("smpp://ccas:s3cret@127.0.0.1:{port}?source=CCAS")).unwrap();
    let text = "Passerelle : donnez ce code à l'agent : 482913. Ne le donnez à personne d'autre — même pas à nous.";
    SmppSender::new(url)
        .send("+33612345678", text)
        .await
        .unwrap();

    let received = smsc.received.lock().await;
    assert_eq!(received.len(), 1);
    let sms = &received[0];
    assert_eq!(sms.destination_addr, "33612345678");
    assert_eq!((sms.dest_addr_ton, sms.dest_addr_npi), (1, 1));
    assert_eq!(sms.source_addr, "CCAS");
    assert_eq!(sms.data_coding, 8);
    let payload = sms.tlvs.message_payload().unwrap();
    let units: Vec<u16> = payload
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(String::from_utf16(&units).unwrap(), text);
    server.stop().await;
}

#[tokio::test]
async fn a_refused_bind_or_a_silent_gateway_is_unavailable_not_a_hang() {
    let (smsc, mut server, port) = smsc().await;
    let url = SmppUrl::parse(&format!("smpp://ccas:wrong@127.0.0.1:{port}")).unwrap();
    let err = SmppSender::new(url)
        .with_timeout(Duration::from_secs(2))
        .send("+33612345678", "x")
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(err.to_string().contains("did not accept a bind"), "{err}");
    assert!(smsc.received.lock().await.is_empty());
    server.stop().await;

    let url = SmppUrl::parse("smpp://ccas:s3cret@127.0.0.1:1").unwrap();
    let err = SmppSender::new(url)
        .with_timeout(Duration::from_secs(2))
        .send("+33612345678", "x")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("the SMS gateway at 127.0.0.1:1"),
        "{err}"
    );
}
