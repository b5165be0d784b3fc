//! The analytics operations: survey imports, assessments, pathways, progress and dashboards.
//!
//! # Layout
//! - this file: the [`Analytics`] handle, the Polars pipeline run off the async threads;
//! - [`access`]: whose answers are whose, and erasure;
//! - [`surveys`]: imports and recorded answers, assessed;
//! - [`pathways`]: assignment with places, steps, progress;
//! - [`dashboards`]: the managers' tables.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use passerelle_access::{Access, Grant, Scope};
use passerelle_bus::outbox::Outbox;
use passerelle_kit::ServiceError;
use passerelle_kit::auth::{Principal, Role};
use passerelle_kit::clock::DynClock;
use passerelle_proto::events::v1 as events;
use passerelle_store::{DynStore, KeyRange, Mutation, Row, Table};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::answers::{self, Answer};
use crate::domain::{
    Assessment, Assignment, Dashboard, DashboardTable, Pathway, PlaceSuggestion, Progress, Score,
    Step,
};
use crate::pipeline::{self, Dashboards, Period};
use crate::places::Places;
use crate::rules::Rules;
use crate::survey::{self, Rejection, TASKS};

mod access;
mod dashboards;
mod pathways;
mod surveys;

use access::{OWNER_RECORDS, Owner};
pub use surveys::ImportReport;

pub const PRODUCER: &str = "analytics";
const ANSWERS: &str = "survey_answers";
const PATHWAYS: &str = "pathways";
/// `(pathway, module) -> done at`.
const STEPS_DONE: &str = "pathway_steps_done";
/// Who each respondent belongs to: partition = respondent id.
const OWNERS: &str = "respondent_owners";
/// What is kept about a person: partition = account id, clustering = `respondent/<id>` or
/// `pathway/<id>` (what erasure follows).
const PEOPLE: &str = "analytics_people";
/// Answers are spread over this many store partitions (by respondent), so that reading them
/// all is a bounded number of partition scans.
const BUCKETS: u32 = 64;
/// Answers written per store batch during an import.
const IMPORT_BATCH: usize = 500;

/// The store partition of a respondent's answers (FNV-1a of the id).
fn bucket(respondent: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in respondent.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("b{:02}", hash % BUCKETS)
}

#[derive(Clone)]
pub struct Analytics {
    store: DynStore,
    outbox: Outbox,
    access: Access,
    clock: DynClock,
    rules: Arc<Rules>,
    places: Option<Places>,
}

impl std::fmt::Debug for Analytics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analytics")
            .field("rules", &self.rules.version)
            .finish_non_exhaustive()
    }
}

fn denied(reason: impl Into<String>) -> ServiceError {
    ServiceError::PermissionDenied(reason.into())
}

/// Staff acting in their own name (not through a delegated token).
fn is_staff(principal: &Principal, roles: &[Role]) -> bool {
    principal.actor.is_none() && roles.iter().any(|r| principal.has_role(*r))
}

/// Runs Polars work on a thread of its own, off the async threads and outside the tokio
/// runtime's context (Polars then drives its own I/O runtime, whatever flavour ours is).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("analytics-polars".into())
        .spawn(move || {
            let _ = done.send(work());
        })
        .map_err(ServiceError::internal)?;
    result
        .await
        .map_err(|_| ServiceError::internal("the analytics computation stopped unexpectedly"))?
}

impl Analytics {
    pub fn new(
        store: DynStore,
        outbox: Outbox,
        clock: DynClock,
        rules: Rules,
        places: Option<Places>,
    ) -> Self {
        Self {
            access: Access::new(store.clone()),
            store,
            outbox,
            clock,
            rules: Arc::new(rules),
            places,
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }
}

/// Scores, level and pathway of each answer, in order.
pub fn assess(rules: &Rules, answers: &[Answer]) -> PolarsResult<Vec<Assessment>> {
    let scored = pipeline::scored(answers::to_frame(answers)?, rules).collect()?;
    let f64_of = |name: &str| -> PolarsResult<Vec<f64>> {
        Ok(scored
            .column(name)?
            .f64()?
            .iter()
            .map(|v| v.unwrap_or(0.0))
            .collect())
    };
    let scores = f64_of(pipeline::SCORE)?;
    let levels: Vec<u8> = scored
        .column(pipeline::LEVEL)?
        .u8()?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect();
    let pathways = scored.column(pipeline::PATHWAY)?.str()?.clone();
    let mut areas = Vec::new();
    for area in &rules.areas {
        areas.push((area, f64_of(&pipeline::area_score_column(&area.id))?));
    }
    let mut tasks = Vec::new();
    for task in TASKS {
        tasks.push((*task, f64_of(&pipeline::task_score_column(task))?));
    }
    let round = |v: f64| (v * 10.0).round() / 10.0;
    let mut out = Vec::new();
    for (i, answer) in answers.iter().enumerate() {
        let level = levels[i];
        out.push(Assessment {
            respondent_id: answer.respondent_id.clone(),
            surveyed_on: answer.surveyed_on.clone(),
            score: round(scores[i]),
            level,
            level_label: rules
                .level(level)
                .map(|l| l.label_fr.clone())
                .unwrap_or_default(),
            areas: areas
                .iter()
                .map(|(area, values)| Score {
                    id: area.id.clone(),
                    label: area.label_fr.clone(),
                    score: round(values[i]),
                })
                .collect(),
            tasks: tasks
                .iter()
                .map(|(task, values)| Score {
                    id: (*task).to_owned(),
                    label: (*task).to_owned(),
                    score: round(values[i]),
                })
                .collect(),
            modules: pathways
                .get(i)
                .unwrap_or("")
                .split('|')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            rules_version: rules.version.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_assessed_through_the_pipeline() {
        let rules = Rules::default_rules();
        let answer = Answer {
            respondent_id: "R1".into(),
            surveyed_on: "2026-09-01".into(),
            antenna: "nord".into(),
            age_band: "75+".into(),
            equipment: [true, false, false],
            tasks: [1, 0, 0, 0, 0, 2, 0, 1],
        };
        let assessed = assess(&rules, &[answer]).unwrap();
        assert_eq!(assessed[0].score, 25.0);
        assert_eq!(assessed[0].level, 1);
    }
}
