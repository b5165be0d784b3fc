//! `passerelle.directory.v1.Directory` over gRPC.

use std::collections::HashMap;
use std::pin::Pin;

use passerelle_kit::ServiceError;
use passerelle_kit::auth::Role;
use passerelle_kit::clock::DynClock;
use passerelle_kit::grpc::{self, Reply, invalid};
use passerelle_proto::directory::v1 as pb;
use passerelle_proto::directory::v1::directory_server::{
    Directory as DirectoryRpc, DirectoryServer,
};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::files::{self, Format};
use crate::index::Query;
use crate::schema::{Place, Vocabulary, parse_strict};
use crate::service::Directory;

#[derive(Clone)]
pub struct DirectoryGrpc {
    service: Directory,
    clock: DynClock,
    /// How long an import stream may go quiet.
    idle: std::time::Duration,
}

impl std::fmt::Debug for DirectoryGrpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryGrpc").finish_non_exhaustive()
    }
}

impl DirectoryGrpc {
    pub fn new(service: Directory, clock: DynClock, idle: std::time::Duration) -> Self {
        Self {
            service,
            clock,
            idle,
        }
    }

    pub fn into_server(self) -> DirectoryServer<Self> {
        DirectoryServer::new(self).max_decoding_message_size(4 * 1024 * 1024)
    }
}

type ExportStream = Pin<Box<dyn Stream<Item = Result<pb::ExportPlacesResponse, Status>> + Send>>;

pub fn to_pb(p: &Place) -> pb::Place {
    pb::Place {
        id: p.id.clone(),
        pivot: p.pivot.clone(),
        nom: p.nom.clone(),
        commune: p.commune.clone(),
        code_postal: p.code_postal.clone(),
        code_insee: p.code_insee.clone(),
        adresse: p.adresse.clone(),
        complement_adresse: p.complement_adresse.clone(),
        latitude: p.latitude,
        longitude: p.longitude,
        typologie: p.typologie.clone(),
        telephone: p.telephone.clone(),
        courriels: p.courriels.clone(),
        site_web: p.site_web.clone(),
        horaires: p.horaires.clone(),
        presentation_resume: p.presentation_resume.clone(),
        presentation_detail: p.presentation_detail.clone(),
        source: p.source.clone(),
        itinerance: p.itinerance.clone(),
        structure_parente: p.structure_parente.clone(),
        date_maj: p.date_maj.clone(),
        services: p.services.clone(),
        publics_specifiquement_adresses: p.publics_specifiquement_adresses.clone(),
        prise_en_charge_specifique: p.prise_en_charge_specifique.clone(),
        frais_a_charge: p.frais_a_charge.clone(),
        dispositif_programmes_nationaux: p.dispositif_programmes_nationaux.clone(),
        formations_labels: p.formations_labels.clone(),
        autres_formations_labels: p.autres_formations_labels.clone(),
        modalites_acces: p.modalites_acces.clone(),
        modalites_accompagnement: p.modalites_accompagnement.clone(),
        fiche_acces_libre: p.fiche_acces_libre.clone(),
        prise_rdv: p.prise_rdv.clone(),
        wifi_public: p.x_wifi_public,
        postes_en_acces_libre: p.x_postes_en_acces_libre,
    }
}

/// A place from the wire, validated exactly like an imported row.
fn from_pb(p: &pb::Place) -> Result<Place, Status> {
    let mut fields: HashMap<&str, String> = HashMap::new();
    let mut put = |name: &'static str, value: String| {
        fields.insert(name, value);
    };
    put("id", p.id.clone());
    put("pivot", p.pivot.clone());
    put("nom", p.nom.clone());
    put("commune", p.commune.clone());
    put("code_postal", p.code_postal.clone());
    put("code_insee", p.code_insee.clone());
    put("adresse", p.adresse.clone());
    put("complement_adresse", p.complement_adresse.clone());
    put(
        "latitude",
        p.latitude.map(|v| v.to_string()).unwrap_or_default(),
    );
    put(
        "longitude",
        p.longitude.map(|v| v.to_string()).unwrap_or_default(),
    );
    put("typologie", p.typologie.join("|"));
    put("telephone", p.telephone.clone());
    put("courriels", p.courriels.join("|"));
    put("site_web", p.site_web.join("|"));
    put("horaires", p.horaires.clone());
    put("presentation_resume", p.presentation_resume.clone());
    put("presentation_detail", p.presentation_detail.clone());
    put("source", p.source.clone());
    put("itinerance", p.itinerance.join("|"));
    put("structure_parente", p.structure_parente.clone());
    put("date_maj", p.date_maj.clone());
    put("services", p.services.join("|"));
    put(
        "publics_specifiquement_adresses",
        p.publics_specifiquement_adresses.join("|"),
    );
    put(
        "prise_en_charge_specifique",
        p.prise_en_charge_specifique.join("|"),
    );
    put("frais_a_charge", p.frais_a_charge.join("|"));
    put(
        "dispositif_programmes_nationaux",
        p.dispositif_programmes_nationaux.join("|"),
    );
    put("formations_labels", p.formations_labels.join("|"));
    put(
        "autres_formations_labels",
        p.autres_formations_labels.clone(),
    );
    put("modalites_acces", p.modalites_acces.join("|"));
    put(
        "modalites_accompagnement",
        p.modalites_accompagnement.join("|"),
    );
    put("fiche_acces_libre", p.fiche_acces_libre.clone());
    put("prise_rdv", p.prise_rdv.clone());
    put(
        "x_wifi_public",
        if p.wifi_public {
            "Oui".into()
        } else {
            "Non".into()
        },
    );
    put(
        "x_postes_en_acces_libre",
        p.postes_en_acces_libre.to_string(),
    );
    let get = |name: &str| fields.get(name).cloned().unwrap_or_default();
    parse_strict(&get).map_err(|r| invalid(format!("{} `{}`: {}", r.field, r.value, r.reason)))
}

fn problem(p: crate::schema::Problem) -> pb::Rejection {
    pb::Rejection {
        line: p.line as i32,
        field: p.field,
        value: p.value,
        reason: p.reason,
    }
}

fn format_of(value: i32) -> Result<Format, Status> {
    match pb::Format::try_from(value) {
        Ok(pb::Format::Csv) => Ok(Format::Csv),
        Ok(pb::Format::Json) => Ok(Format::Json),
        Ok(pb::Format::Geojson) => Ok(Format::GeoJson),
        Ok(pb::Format::DataInclusion) => Ok(Format::DataInclusion),
        _ => Err(invalid(
            "format is required: expected CSV, JSON, GEOJSON or DATA_INCLUSION (export only)",
        )),
    }
}

/// Filter values checked against the schema's vocabulary.
fn vocabulary(
    field: &str,
    values: &[String],
    vocabulary: Vocabulary,
) -> Result<Vec<String>, Status> {
    values
        .iter()
        .map(|v| {
            vocabulary.canonical(v).map(str::to_owned).ok_or_else(|| {
                invalid(format!(
                    "{field} `{v}` is not a known value: accepted are {}",
                    vocabulary.values().join(" | ")
                ))
            })
        })
        .collect()
}

#[tonic::async_trait]
impl DirectoryRpc for DirectoryGrpc {
    async fn search_places(
        &self,
        request: Request<pb::SearchPlacesRequest>,
    ) -> Reply<pb::SearchPlacesResponse> {
        let r = request.into_inner();
        // Unset numbers read as 0: a search "around 0, 0" (the Gulf of Guinea) is a search
        // without a point, which must say so rather than find nothing.
        if r.latitude == 0.0 && r.longitude == 0.0 {
            return Err(invalid(
                "a search needs a point: set latitude and longitude in WGS 84 degrees (for example 49.8944 and 2.3022 for Amiens)",
            ));
        }
        if !(-90.0..=90.0).contains(&r.latitude) || !(-180.0..=180.0).contains(&r.longitude) {
            return Err(invalid(
                "latitude goes from -90 to 90 and longitude from -180 to 180",
            ));
        }
        let radius_m = match r.radius_m {
            0.0 => 10_000.0,
            m if (1.0..=200_000.0).contains(&m) => m,
            m => {
                return Err(invalid(format!(
                    "radius_m {m} is out of range: expected 1 to 200000 metres"
                )));
            }
        };
        let limit = match r.page_size {
            0 => 10,
            n if (1..=100).contains(&n) => n as usize,
            n => {
                return Err(invalid(format!(
                    "page_size {n} is out of range: expected 1 to 100"
                )));
            }
        };
        let offset = match r.page_token.as_str() {
            "" => 0,
            token => token
                .parse::<usize>()
                .map_err(|_| invalid("page_token is not one this service gave"))?,
        };
        let open_at = match (&r.open_at, r.open_now) {
            // 1970 to 9999: opening hours mean nothing outside, and dates overflow there.
            (Some(at), _) if !(0..=253_402_300_799).contains(&at.seconds) => {
                return Err(invalid(
                    "open_at is out of range: expected a time between 1970 and 9999",
                ));
            }
            (Some(at), _) => Some(at.seconds),
            (None, true) => Some(self.clock.now()),
            (None, false) => None,
        };
        let query = Query {
            lat: r.latitude,
            lon: r.longitude,
            radius_m,
            services: vocabulary("services", &r.services, Vocabulary::Services)?,
            publics: vocabulary("publics", &r.publics, Vocabulary::Publics)?,
            support: vocabulary("support", &r.support, Vocabulary::Support)?,
            fees: vocabulary("fees", &r.fees, Vocabulary::Fees)?,
            open_at,
            wifi: r.wifi,
            offset,
            limit,
        };
        let hits = self.service.search(&query)?;
        let next = if hits.len() == limit {
            (offset + limit).to_string()
        } else {
            String::new()
        };
        Ok(Response::new(pb::SearchPlacesResponse {
            hits: hits
                .iter()
                .map(|h| pb::PlaceHit {
                    place: Some(to_pb(&h.entry.place)),
                    distance_m: h.distance_m.round(),
                })
                .collect(),
            next_page_token: next,
        }))
    }

    async fn get_place(&self, request: Request<pb::GetPlaceRequest>) -> Reply<pb::Place> {
        Ok(Response::new(to_pb(
            &self.service.get(request.get_ref().id.trim())?,
        )))
    }

    async fn upsert_place(&self, request: Request<pb::Place>) -> Reply<pb::Place> {
        let (caller, request) = grpc::caller(request)?;
        // Who may edit at all, before the place is even read.
        caller.require_any(&[Role::Agent, Role::Manager, Role::Admin])?;
        let place = from_pb(&request)?;
        Ok(Response::new(to_pb(
            &self.service.upsert(&caller, place).await?,
        )))
    }

    async fn delete_place(
        &self,
        request: Request<pb::DeletePlaceRequest>,
    ) -> Reply<pb::DeletePlaceResponse> {
        let (caller, request) = grpc::caller(request)?;
        self.service.delete(&caller, request.id.trim()).await?;
        Ok(Response::new(pb::DeletePlaceResponse {}))
    }

    async fn import_places(
        &self,
        request: Request<Streaming<pb::ImportPlacesRequest>>,
    ) -> Reply<pb::ImportReport> {
        let (caller, request) = grpc::caller(request)?;
        // Before a byte is held: only managers and admins import.
        if caller.actor.is_some() {
            return Err(ServiceError::PermissionDenied(
                "places are imported with your own account".into(),
            )
            .into());
        }
        caller.require_any(&[Role::Manager, Role::Admin])?;
        let mut stream = request;
        let mut bytes = Vec::new();
        let mut format = None;
        let mut source = String::new();
        while let Some(message) =
            passerelle_kit::server::next_message(&mut stream, self.idle).await?
        {
            if format.is_none() {
                format = Some(format_of(message.format)?);
                source = message.source;
            }
            if bytes.len() + message.chunk.len() > 100 * 1024 * 1024 {
                return Err(ServiceError::ResourceExhausted(
                    "an import holds at most 100 MB: split the file".into(),
                )
                .into());
            }
            bytes.extend_from_slice(&message.chunk);
        }
        let format = format
            .ok_or_else(|| invalid("nothing was sent: expected a format and the file's bytes"))?;
        let rows = files::read(format, &bytes, &source).map_err(ServiceError::from)?;
        let report = self.service.import(Some(&caller), rows, |_, _| {}).await?;
        Ok(Response::new(pb::ImportReport {
            imported: report.imported as i32,
            updated: report.updated as i32,
            merged: report
                .merged
                .into_iter()
                .map(|(line, imported_id, existing_id, reason)| pb::Merge {
                    line: line as i32,
                    imported_id,
                    existing_id,
                    reason,
                })
                .collect(),
            rejected: report.rejected.into_iter().map(problem).collect(),
            warnings: report.warnings.into_iter().map(problem).collect(),
        }))
    }

    type ExportPlacesStream = ExportStream;

    async fn export_places(
        &self,
        request: Request<pb::ExportPlacesRequest>,
    ) -> Reply<Self::ExportPlacesStream> {
        let format = format_of(request.get_ref().format)?;
        let bytes = self.service.export(format)?;
        let chunks: Vec<Result<pb::ExportPlacesResponse, Status>> = bytes
            .chunks(1024 * 1024)
            .map(|c| Ok(pb::ExportPlacesResponse { chunk: c.to_vec() }))
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }
}
