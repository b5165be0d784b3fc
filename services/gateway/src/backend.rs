//! The services, as the web front calls them: over gRPC, with the signed-in person's token (so
//! every rule stays in the services), the person's own address in `x-forwarded-for` (so the
//! services' per-source throttling sees people, not the gateway; they believe it only from a
//! trusted proxy) and the trace context.

use std::time::Duration;

use passerelle_kit::config::ConfigError;
use passerelle_proto::identity::v1::identity_client::IdentityClient;
use passerelle_proto::vault::v1::vault_client::VaultClient;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// What every call carries.
#[derive(Clone, Debug)]
pub struct Meta {
    authorization: Option<MetadataValue<tonic::metadata::Ascii>>,
    forwarded_for: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl tonic::service::Interceptor for Meta {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let metadata = request.metadata_mut();
        if let Some(value) = &self.authorization {
            metadata.insert("authorization", value.clone());
        }
        if let Some(value) = &self.forwarded_for {
            metadata.insert("x-forwarded-for", value.clone());
        }
        passerelle_kit::telemetry::inject_metadata(metadata);
        Ok(request)
    }
}

pub type Identity = IdentityClient<InterceptedService<Channel, Meta>>;
pub type Vault = VaultClient<InterceptedService<Channel, Meta>>;

/// Channels to the services; they connect on first use and again after a restart.
#[derive(Clone, Debug)]
pub struct Backend {
    identity: Channel,
    vault: Channel,
}

fn channel(url: &str, ca: Option<&std::path::Path>) -> Result<Channel, ConfigError> {
    Ok(passerelle_kit::server::endpoint(url, ca)?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .http2_adaptive_window(true)
        .connect_lazy())
}

impl Backend {
    pub fn new(
        identity_url: &str,
        vault_url: &str,
        ca: Option<&std::path::Path>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            identity: channel(identity_url, ca)?,
            vault: channel(vault_url, ca)?,
        })
    }

    fn meta(token: Option<&str>, client: &str) -> Meta {
        Meta {
            authorization: token.and_then(|t| format!("Bearer {t}").parse().ok()),
            forwarded_for: client.parse().ok(),
        }
    }

    /// The identity service, as `token`'s holder at `client` (an IP address).
    pub fn identity(&self, token: Option<&str>, client: &str) -> Identity {
        IdentityClient::with_interceptor(self.identity.clone(), Self::meta(token, client))
    }

    /// The vault, as `token`'s holder at `client`.
    pub fn vault(&self, token: Option<&str>, client: &str) -> Vault {
        VaultClient::with_interceptor(self.vault.clone(), Self::meta(token, client))
            .max_decoding_message_size(4 * 1024 * 1024)
    }
}
