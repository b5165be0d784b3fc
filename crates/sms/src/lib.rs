//! Sending SMS over SMPP 3.4, the protocol SMS gateways and operators speak.
//!
//! [`SmppSender`] binds as a transmitter to the SMSC an `smpp://` URL names, submits one
//! message and unbinds: consent codes and reminders are few, so a session per message keeps
//! nothing to babysit. Text goes as UCS-2 (`data_coding` 8) in the `message_payload` TLV, so
//! French accents and messages longer than one SMS arrive whole.
//!
//! URL: `smpp://SYSTEM_ID:PASSWORD@HOST:PORT[?source=SENDER]`; `SENDER` defaults to
//! `Passerelle` (an alphanumeric sender id).
#![forbid(unsafe_code)]

mod phone;
pub use phone::Phone;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use passerelle_core::ServiceError;
use smpp34::TlvTag;
use smpp34::client::{BIND_TYPE, SMSC, SmppClient, SmppClientListener};
use tokio::sync::{Mutex, oneshot};

/// Sends one text message to one phone number (E.164).
#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    async fn send(&self, to_e164: &str, text: &str) -> Result<(), ServiceError>;
}

/// Where and how to reach the SMSC.
#[derive(Clone, PartialEq, Eq)]
pub struct SmppUrl {
    pub host: String,
    pub port: u16,
    pub system_id: String,
    pub password: String,
    pub source: String,
}

impl std::fmt::Debug for SmppUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmppUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("system_id", &self.system_id)
            .finish_non_exhaustive()
    }
}

/// An SMS gateway URL that cannot be used; the reason says which part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid SMS gateway URL: {0}; expected smpp://SYSTEM_ID:PASSWORD@HOST:PORT[?source=SENDER]"
)]
pub struct InvalidUrl(String);

impl SmppUrl {
    pub fn parse(url: &str) -> Result<Self, InvalidUrl> {
        let invalid = |reason: &str| InvalidUrl(reason.to_owned());
        let rest = url
            .strip_prefix("smpp://")
            .ok_or_else(|| invalid("the scheme is not smpp"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (credentials, address) = rest
            .rsplit_once('@')
            .ok_or_else(|| invalid("the system id and password are missing"))?;
        let (system_id, password) = credentials
            .split_once(':')
            .ok_or_else(|| invalid("the password is missing"))?;
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| invalid("the port is missing"))?;
        let port = port
            .trim_end_matches('/')
            .parse()
            .map_err(|_| invalid("the port is not a number"))?;
        if system_id.is_empty() || host.is_empty() {
            return Err(invalid("the system id or host is empty"));
        }
        let mut source = "Passerelle".to_owned();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("source", value)) if !value.is_empty() && value.len() <= 11 => {
                    source = value.to_owned();
                }
                _ => {
                    return Err(invalid(&format!(
                        "unknown or bad parameter `{pair}` (accepted: source, 1 to 11 characters)"
                    )));
                }
            }
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            system_id: system_id.to_owned(),
            password: password.to_owned(),
            source,
        })
    }
}

/// SMS over SMPP.
#[derive(Clone, Debug)]
pub struct SmppSender {
    url: SmppUrl,
    timeout: Duration,
}

impl SmppSender {
    pub fn new(url: SmppUrl) -> Self {
        Self {
            url,
            timeout: Duration::from_secs(10),
        }
    }

    /// How long to wait for the gateway to accept the bind and the message (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Hands the bound session over once the SMSC accepts the bind.
struct Bound {
    tx: Mutex<Option<oneshot::Sender<SMSC>>>,
}

#[async_trait]
impl SmppClientListener for Bound {
    async fn on_smsc_bound(&self, smsc: SMSC, _session: &String) {
        if let Some(tx) = self.tx.lock().await.take() {
            let _ = tx.send(smsc);
        }
    }
}

/// The text as UCS-2 (UTF-16 big-endian), as `data_coding` 8 requires.
pub fn ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

#[async_trait]
impl SmsSender for SmppSender {
    async fn send(&self, to_e164: &str, text: &str) -> Result<(), ServiceError> {
        let unavailable = |reason: String| {
            ServiceError::Unavailable(format!(
                "the SMS gateway at {}:{} {reason}",
                self.url.host, self.url.port
            ))
        };
        let (tx, rx) = oneshot::channel();
        let mut client = SmppClient::new(
            self.url.host.clone(),
            self.url.port,
            false,
            BIND_TYPE::TX,
            self.url.system_id.clone(),
            self.url.password.clone(),
            String::new(),
            0,
            0,
            String::new(),
            Arc::new(Bound {
                tx: Mutex::new(Some(tx)),
            }),
            1,
        );
        client.start().await;
        let outcome = async {
            let smsc = tokio::time::timeout(self.timeout, rx)
                .await
                .map_err(|_| {
                    unavailable(format!(
                        "did not accept a bind within {}s",
                        self.timeout.as_secs()
                    ))
                })?
                .map_err(|_| unavailable("closed the session".into()))?;
            // Destination as an international number (TON 1, NPI 1), without the `+`.
            let response = smsc
                .submit_sm()
                .source_addr_ton(5)
                .source_addr(self.url.source.clone())
                .dest_addr_ton(1)
                .dest_addr_npi(1)
                .destination_addr(to_e164.trim_start_matches('+'))
                .data_coding(8)
                .tlv(TlvTag::MessagePayload, ucs2(text))
                .send()
                .await
                .map_err(|e| unavailable(format!("refused the message: {e:?}")))?;
            if !response.is_success() {
                return Err(unavailable(format!(
                    "refused the message with status {:#x}",
                    response.header.command_status
                )));
            }
            let _ = smsc.send_unbind().await;
            tracing::info!(message_id = ?response.message_id, "SMS handed to the gateway");
            Ok(())
        }
        .await;
        client.stop().await;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_say_what_is_wrong() {
        let url =
            SmppUrl::parse("smpp://ccas:s3cret@sms.example.fr:2775?source=CCASAmiens").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.system_id.as_str()),
            ("sms.example.fr", 2775, "ccas")
        );
        assert_eq!(url.source, "CCASAmiens");
        assert!(
            !format!("{url:?}").contains("s3cret"),
            "the password never prints"
        );
        for (bad, reason) in [
            ("http://x", "scheme"),
            ("smpp://host:2775", "system id and password are missing"),
            ("smpp://a:b@host", "port is missing"),
            ("smpp://a:b@host:x", "not a number"),
            (
                "smpp://a:b@host:1?source=waytoolongsender",
                "accepted: source",
            ),
        ] {
            let err = SmppUrl::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains(reason) && err.contains("expected smpp://"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn text_goes_as_ucs2() {
        assert_eq!(ucs2("é"), vec![0x00, 0xE9]);
        assert_eq!(ucs2("€"), vec![0x20, 0xAC]);
    }
}
