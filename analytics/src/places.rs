//! The nearest places fitting a module, asked of the directory service over gRPC.

use std::time::Duration;

use passerelle_proto::directory::v1 as directory;
use passerelle_proto::directory::v1::directory_client::DirectoryClient;
use tonic::transport::Channel;

use crate::domain::PlaceSuggestion;

/// How far to look for places.
pub const RADIUS_M: f64 = 30_000.0;
/// Places suggested per step.
pub const PER_STEP: usize = 3;

#[derive(Clone, Debug)]
pub struct Places {
    client: DirectoryClient<Channel>,
}

impl Places {
    /// A directory at `url` (`http://host:port`, or `https://` trusting the `ca` PEM file when
    /// given); connects on first use, so the directory may start later or restart.
    pub fn connect_lazy(
        url: &str,
        ca: Option<&std::path::Path>,
    ) -> Result<Self, crate::error::Error> {
        let endpoint = passerelle_kit::server::endpoint(url, ca)?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .tcp_nodelay(true);
        Ok(Self {
            client: DirectoryClient::new(endpoint.connect_lazy()),
        })
    }

    /// The nearest places offering one of `services`, at most [`PER_STEP`]: first those that
    /// address one of `publics` (Seniors for a person over 60, say), nearest first, then the
    /// others, nearest first.
    pub async fn nearest(
        &self,
        services: &[String],
        publics: &[String],
        latitude: f64,
        longitude: f64,
    ) -> Result<Vec<PlaceSuggestion>, crate::error::Error> {
        let mut addressing: Vec<PlaceSuggestion> = Vec::new();
        let mut others: Vec<PlaceSuggestion> = Vec::new();
        // The directory's filters want every value listed; a module accepts any one service,
        // and a person fits any one of their publics.
        for service in services {
            for public in publics.iter().map(Some).chain([None]) {
                let request = directory::SearchPlacesRequest {
                    latitude,
                    longitude,
                    radius_m: RADIUS_M,
                    services: vec![service.clone()],
                    publics: public.cloned().into_iter().collect(),
                    page_size: i32::try_from(PER_STEP).unwrap_or(3),
                    ..Default::default()
                };
                let hits = self
                    .client
                    .clone()
                    .search_places(request)
                    .await
                    .map_err(|status| crate::error::Error::Directory(status.message().to_owned()))?
                    .into_inner()
                    .hits;
                for hit in hits {
                    let Some(place) = hit.place else { continue };
                    if addressing
                        .iter()
                        .chain(&others)
                        .any(|p| p.place_id == place.id)
                    {
                        continue;
                    }
                    let suggestion = PlaceSuggestion {
                        place_id: place.id,
                        name: place.nom,
                        address: format!(
                            "{}, {} {}",
                            place.adresse, place.code_postal, place.commune
                        ),
                        distance_m: hit.distance_m.round(),
                        phone: place.telephone,
                        booking: place.prise_rdv,
                    };
                    if public.is_some() {
                        addressing.push(suggestion);
                    } else {
                        others.push(suggestion);
                    }
                }
            }
        }
        for list in [&mut addressing, &mut others] {
            list.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
        }
        addressing.extend(others);
        addressing.truncate(PER_STEP);
        Ok(addressing)
    }
}
