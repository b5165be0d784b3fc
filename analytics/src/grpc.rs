//! `passerelle.analytics.v1.Analytics` over gRPC.

use std::collections::BTreeMap;

use passerelle_kit::ServiceError;
use passerelle_kit::grpc::{self, Reply};
use passerelle_proto::analytics::v1 as pb;
use passerelle_proto::analytics::v1::analytics_server::{
    Analytics as AnalyticsRpc, AnalyticsServer,
};
use tonic::{Request, Response, Status};

use crate::service::Analytics;

#[derive(Clone)]
pub struct AnalyticsGrpc {
    service: Analytics,
}

impl std::fmt::Debug for AnalyticsGrpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyticsGrpc").finish_non_exhaustive()
    }
}

impl AnalyticsGrpc {
    pub fn new(service: Analytics) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> AnalyticsServer<Self> {
        AnalyticsServer::new(self).max_encoding_message_size(64 * 1024 * 1024)
    }
}

fn required(name: &str, value: &str) -> Result<String, Status> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ServiceError::InvalidArgument(format!("{name} is required")).into());
    }
    Ok(value.to_owned())
}

/// An answer from the wire in the survey file's words, for the same checks as a file's row.
fn text_of(a: &pb::SurveyAnswer) -> BTreeMap<String, String> {
    [
        ("respondent_id", &a.respondent_id),
        ("surveyed_on", &a.surveyed_on),
        ("antenna", &a.antenna),
        ("age_band", &a.age_band),
        ("has_smartphone", &a.has_smartphone),
        ("has_computer", &a.has_computer),
        ("has_internet_home", &a.has_internet_home),
        ("email", &a.email),
        ("online_procedure", &a.online_procedure),
        ("tax_online", &a.tax_online),
        ("health_account", &a.health_account),
        ("job_search", &a.job_search),
        ("video_call", &a.video_call),
        ("online_banking", &a.online_banking),
        ("spot_scam", &a.spot_scam),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.clone()))
    .collect()
}

#[tonic::async_trait]
impl AnalyticsRpc for AnalyticsGrpc {
    async fn record_response(
        &self,
        request: Request<pb::RecordResponseRequest>,
    ) -> Reply<pb::Assessment> {
        let (caller, request) = grpc::caller(request)?;
        let Some(answer) = request.answer.as_ref() else {
            return Err(ServiceError::InvalidArgument("answer is required".into()).into());
        };
        let person = request.beneficiary_id.trim();
        let person = (!person.is_empty()).then_some(person);
        Ok(Response::new(
            self.service
                .record(&caller, text_of(answer), person)
                .await?,
        ))
    }

    async fn get_respondent(
        &self,
        request: Request<pb::GetRespondentRequest>,
    ) -> Reply<pb::Respondent> {
        let (caller, request) = grpc::caller(request)?;
        let id = required("respondent_id", &request.respondent_id)?;
        let surveys = self.service.respondent(&caller, &id).await?;
        Ok(Response::new(pb::Respondent {
            respondent_id: id,
            surveys,
        }))
    }

    async fn assign_pathway(
        &self,
        request: Request<pb::AssignPathwayRequest>,
    ) -> Reply<pb::Pathway> {
        let (caller, request) = grpc::caller(request)?;
        required("respondent_id", &request.respondent_id)?;
        Ok(Response::new(self.service.assign(&caller, request).await?))
    }

    async fn get_pathway(&self, request: Request<pb::GetPathwayRequest>) -> Reply<pb::Pathway> {
        let (caller, request) = grpc::caller(request)?;
        let id = required("pathway_id", &request.pathway_id)?;
        Ok(Response::new(self.service.get(&caller, &id).await?))
    }

    async fn complete_step(&self, request: Request<pb::CompleteStepRequest>) -> Reply<pb::Pathway> {
        let (caller, request) = grpc::caller(request)?;
        let id = required("pathway_id", &request.pathway_id)?;
        let module = required("module_id", &request.module_id)?;
        Ok(Response::new(
            self.service.complete(&caller, &id, &module).await?,
        ))
    }

    async fn measure_progress(
        &self,
        request: Request<pb::MeasureProgressRequest>,
    ) -> Reply<pb::Progress> {
        let (caller, request) = grpc::caller(request)?;
        let id = required("pathway_id", &request.pathway_id)?;
        Ok(Response::new(self.service.progress(&caller, &id).await?))
    }

    async fn get_dashboard(
        &self,
        request: Request<pb::GetDashboardRequest>,
    ) -> Reply<pb::Dashboard> {
        let (caller, request) = grpc::caller(request)?;
        Ok(Response::new(
            self.service.dashboard(&caller, &request.period).await?,
        ))
    }
}
