//! `passerelle.platform.v1.Platform`: what a running process is (version, engines, services).

use passerelle_proto::platform::v1::platform_server::{Platform, PlatformServer};
use passerelle_proto::platform::v1::{InfoRequest, InfoResponse, ServiceEndpoint};
use tonic::{Request, Response, Status};

#[derive(Clone, Debug)]
pub struct PlatformService {
    info: InfoResponse,
}

impl PlatformService {
    pub fn new(store_engine: &str, bus_engine: &str, services: &[(String, String)]) -> Self {
        Self {
            info: InfoResponse {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                store_engine: store_engine.to_owned(),
                bus_engine: bus_engine.to_owned(),
                services: services
                    .iter()
                    .map(|(name, address)| ServiceEndpoint {
                        name: name.clone(),
                        address: address.clone(),
                    })
                    .collect(),
            },
        }
    }

    pub fn into_server(self) -> PlatformServer<Self> {
        PlatformServer::new(self)
    }
}

#[tonic::async_trait]
impl Platform for PlatformService {
    async fn info(&self, _request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        Ok(Response::new(self.info.clone()))
    }
}
