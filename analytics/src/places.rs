//! The nearest places fitting a module, asked of the directory service over gRPC.

use std::time::Duration;

use passerelle_proto::analytics::v1::PlaceSuggestion;
use passerelle_proto::directory::v1 as directory;
use passerelle_proto::directory::v1::directory_client::DirectoryClient;
use tonic::transport::{Channel, Endpoint};

/// How far to look for places.
pub const RADIUS_M: f64 = 30_000.0;
/// Places suggested per step.
pub const PER_STEP: usize = 3;

#[derive(Clone, Debug)]
pub struct Places {
    client: DirectoryClient<Channel>,
}

impl Places {
    /// A directory at `url` (`http://host:port`); connects on first use, so the directory may
    /// start later or restart.
    pub fn connect_lazy(url: &str) -> Result<Self, String> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| format!("directory url `{url}` is not valid: {e}"))?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .tcp_nodelay(true);
        Ok(Self {
            client: DirectoryClient::new(endpoint.connect_lazy()),
        })
    }

    /// The nearest places offering one of `services`, nearest first, at most [`PER_STEP`].
    pub async fn nearest(
        &self,
        services: &[String],
        latitude: f64,
        longitude: f64,
    ) -> Result<Vec<PlaceSuggestion>, String> {
        let mut found: Vec<PlaceSuggestion> = Vec::new();
        // The directory's filter wants every service listed; a module accepts any one of them.
        for service in services {
            let request = directory::SearchPlacesRequest {
                latitude,
                longitude,
                radius_m: RADIUS_M,
                services: vec![service.clone()],
                page_size: i32::try_from(PER_STEP).unwrap_or(3),
                ..Default::default()
            };
            let hits = self
                .client
                .clone()
                .search_places(request)
                .await
                .map_err(|status| format!("the directory did not answer: {}", status.message()))?
                .into_inner()
                .hits;
            for hit in hits {
                let Some(place) = hit.place else { continue };
                if found.iter().any(|p| p.place_id == place.id) {
                    continue;
                }
                found.push(PlaceSuggestion {
                    place_id: place.id,
                    name: place.nom,
                    address: format!("{}, {} {}", place.adresse, place.code_postal, place.commune),
                    distance_m: hit.distance_m.round(),
                    phone: place.telephone,
                    booking: place.prise_rdv,
                });
            }
        }
        found.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
        found.truncate(PER_STEP);
        Ok(found)
    }
}
