//! The analytics operations: survey imports, assessments, pathways, progress and dashboards.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use passerelle_access::{Access, Grant, Scope};
use passerelle_bus::outbox::Outbox;
use passerelle_kit::ServiceError;
use passerelle_kit::auth::{Principal, Role};
use passerelle_kit::clock::DynClock;
use passerelle_proto::analytics::v1 as pb;
use passerelle_proto::events::v1 as events;
use passerelle_store::{DynStore, KeyRange, Mutation, Row};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::answers::{self, Answer};
use crate::pipeline::{self, Dashboards, Period};
use crate::places::Places;
use crate::rules::Rules;
use crate::survey::{self, Rejection, TASKS};

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

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportReport {
    /// Rows read from the file.
    pub rows: usize,
    /// New answers.
    pub imported: usize,
    /// Answers already there with other values, replaced (a corrected file).
    pub updated: usize,
    /// Answers already there, the same: a file imported twice adds nothing.
    pub unchanged: usize,
    pub rejected_rows: usize,
    /// The first problems, in line order.
    pub rejections: Vec<Rejection>,
    pub by_field: BTreeMap<String, usize>,
}

/// A pathway as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PathwayRecord {
    id: String,
    beneficiary_id: String,
    respondent_id: String,
    rules_version: String,
    language: String,
    baseline: Answer,
    steps: Vec<StepRecord>,
    first_step: String,
    assigned_at: i64,
    assigned_by: String,
    places_note: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct StepRecord {
    module_id: String,
    places: Vec<PlaceRecord>,
    done_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PlaceRecord {
    place_id: String,
    name: String,
    address: String,
    distance_m: f64,
    phone: String,
    booking: String,
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

/// Who a respondent's answers belong to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Owner {
    /// The structure that surveyed them (none for imported surveys).
    structure: Option<String>,
    /// The person's account, once the answers are linked to it.
    beneficiary_id: Option<String>,
}

fn denied(reason: impl Into<String>) -> ServiceError {
    ServiceError::PermissionDenied(reason.into())
}

/// Staff acting in their own name (not through a delegated token).
fn is_staff(principal: &Principal, roles: &[Role]) -> bool {
    principal.actor.is_none() && roles.iter().any(|r| principal.has_role(*r))
}

impl Analytics {
    async fn owner(&self, respondent: &str) -> Result<Option<(Owner, Vec<u8>)>, ServiceError> {
        let Some(raw) = self.store.get(OWNERS, respondent, "").await? else {
            return Ok(None);
        };
        let owner = serde_json::from_slice(&raw).map_err(ServiceError::internal)?;
        Ok(Some((owner, raw)))
    }

    /// May `principal` read or add to `respondent`'s answers? The grant says whether it is
    /// under a mandate (then the act goes to the person's trail).
    async fn reach(
        &self,
        principal: &Principal,
        respondent: &str,
        owner: Option<&Owner>,
    ) -> Result<Grant, ServiceError> {
        match owner {
            Some(Owner {
                beneficiary_id: Some(person),
                ..
            }) => {
                self.access
                    .authorize(principal, person, Scope::Pathways, self.clock.now())
                    .await
            }
            Some(Owner {
                structure: Some(structure),
                ..
            }) => {
                let own_staff = is_staff(principal, &[Role::Agent, Role::Manager])
                    && principal.structure.as_deref() == Some(structure.as_str());
                if own_staff || is_staff(principal, &[Role::Admin]) {
                    Ok(Grant::Own)
                } else {
                    Err(denied(format!(
                        "respondent `{respondent}` was surveyed by {structure}: only its staff read or add to the answers"
                    )))
                }
            }
            _ => {
                if is_staff(principal, &[Role::Manager, Role::Admin]) {
                    Ok(Grant::Own)
                } else {
                    Err(denied(format!(
                        "respondent `{respondent}` comes from an imported survey: only managers and admins read it"
                    )))
                }
            }
        }
    }

    /// Links `respondent` to `person` (once: a respondent is one person's), with the index
    /// that erasure follows.
    fn link_mutations(
        respondent: &str,
        owner: &Owner,
        person: &str,
    ) -> Result<Vec<Mutation>, ServiceError> {
        let linked = Owner {
            beneficiary_id: Some(person.to_owned()),
            ..owner.clone()
        };
        Ok(vec![
            Mutation::Put(Row::new(
                OWNERS,
                respondent,
                "",
                serde_json::to_vec(&linked).map_err(ServiceError::internal)?,
            )),
            Mutation::Put(Row::new(
                PEOPLE,
                person,
                format!("respondent/{respondent}"),
                Vec::new(),
            )),
        ])
    }

    /// Erases what analytics holds about an account (on `AccountErased`): the surveys linked
    /// to it, its pathways and their steps. The dashboards then count without them.
    pub async fn erase_person(&self, person: &str) -> Result<usize, ServiceError> {
        let index = self.store.scan_all(PEOPLE, person).await?;
        let mut batch = Vec::new();
        for (entry, _) in &index {
            if let Some(respondent) = entry.strip_prefix("respondent/") {
                for answer in self.answers_of(respondent).await? {
                    batch.push(Mutation::delete(ANSWERS, bucket(respondent), answer.key()));
                }
                batch.push(Mutation::delete(OWNERS, respondent, ""));
            } else if let Some(pathway) = entry.strip_prefix("pathway/") {
                batch.push(Mutation::delete(PATHWAYS, pathway, ""));
                for (module, _) in self.store.scan_all(STEPS_DONE, pathway).await? {
                    batch.push(Mutation::delete(STEPS_DONE, pathway, module));
                }
            }
            batch.push(Mutation::delete(PEOPLE, person, entry));
        }
        let erased = index.len();
        if !batch.is_empty() {
            self.store.batch(batch).await?;
            tracing::info!(account_id = %person, entries = erased, "analytics erased an account's surveys and pathways");
        }
        Ok(erased)
    }
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

    /// Every stored answer.
    pub async fn all_answers(&self) -> Result<Vec<Answer>, ServiceError> {
        let mut out = Vec::new();
        for b in 0..BUCKETS {
            for (_, bytes) in self.store.scan_all(ANSWERS, &format!("b{b:02}")).await? {
                out.push(Answer::decode(&bytes).map_err(ServiceError::internal)?);
            }
        }
        Ok(out)
    }

    /// A respondent's answers, oldest first.
    pub async fn answers_of(&self, respondent: &str) -> Result<Vec<Answer>, ServiceError> {
        let page = self
            .store
            .scan(
                ANSWERS,
                &bucket(respondent),
                &KeyRange::prefix(&format!("{respondent}/")),
                10_000,
            )
            .await?;
        page.rows
            .iter()
            .map(|(_, bytes)| Answer::decode(bytes).map_err(ServiceError::internal))
            .collect()
    }

    /// Stores checked answers: new ones added, changed ones replaced, the same ones left.
    async fn store_answers(
        &self,
        checked: Vec<Answer>,
        report: &mut ImportReport,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(), ServiceError> {
        let existing: HashMap<String, Vec<u8>> = self
            .all_answers()
            .await?
            .into_iter()
            .map(|a| (a.key(), a.encode()))
            .collect();
        let total = checked.len();
        let mut batch = Vec::new();
        for (done, answer) in checked.into_iter().enumerate() {
            let bytes = answer.encode();
            match existing.get(&answer.key()) {
                Some(old) if *old == bytes => {
                    report.unchanged += 1;
                    continue;
                }
                Some(_) => report.updated += 1,
                None => report.imported += 1,
            }
            batch.push(Mutation::Put(Row::new(
                ANSWERS,
                bucket(&answer.respondent_id),
                answer.key(),
                bytes,
            )));
            if batch.len() >= IMPORT_BATCH {
                self.store.batch(std::mem::take(&mut batch)).await?;
                progress(done + 1, total);
            }
        }
        if !batch.is_empty() {
            self.store.batch(batch).await?;
        }
        progress(total, total);
        Ok(())
    }

    /// Imports a survey file (CSV or Parquet): good rows stored, bad rows reported.
    /// `progress(done, total)` follows the writing.
    pub async fn import_file(
        &self,
        path: &Path,
        progress: impl FnMut(usize, usize),
    ) -> Result<ImportReport, ServiceError> {
        let path = path.to_owned();
        let (checked, rows) = blocking(move || {
            let checked =
                survey::read_checked(&path).map_err(|e| ServiceError::invalid(e.to_string()))?;
            let rows = answers::from_frame(&checked.good).map_err(ServiceError::internal)?;
            Ok((checked, rows))
        })
        .await?;
        let mut report = ImportReport {
            rows: checked.good.height() + checked.rejected_rows,
            rejected_rows: checked.rejected_rows,
            rejections: checked.rejections,
            by_field: checked.by_field,
            ..ImportReport::default()
        };
        let answers = rows.into_iter().map(|(_, a)| a).collect();
        self.store_answers(answers, &mut report, progress).await?;
        tracing::info!(
            imported = report.imported,
            updated = report.updated,
            unchanged = report.unchanged,
            rejected = report.rejected_rows,
            "survey imported"
        );
        Ok(report)
    }

    /// Scores and levels of answers, through the same Polars pipeline as the dashboards.
    pub async fn assess(&self, answers: Vec<Answer>) -> Result<Vec<pb::Assessment>, ServiceError> {
        let rules = Arc::clone(&self.rules);
        blocking(move || assess(&rules, &answers).map_err(ServiceError::internal)).await
    }

    /// Records one answer (a survey or a re-survey), checked like a file's row: for `person`
    /// (linked to their account, under their mandate), or anonymously for the recording
    /// agent's structure.
    pub async fn record(
        &self,
        principal: &Principal,
        text: BTreeMap<String, String>,
        person: Option<&str>,
    ) -> Result<pb::Assessment, ServiceError> {
        // Who may record at all, before anything is parsed.
        let grant = match person {
            Some(person) => Some(
                self.access
                    .authorize(principal, person, Scope::Pathways, self.clock.now())
                    .await?,
            ),
            None => {
                if !is_staff(principal, &[Role::Agent, Role::Manager, Role::Admin]) {
                    return Err(denied(
                        "only staff record an anonymous survey; a person's own answers need their beneficiary_id",
                    ));
                }
                None
            }
        };
        let answer = blocking(move || {
            let lf =
                survey::from_text(&[text]).map_err(|e| ServiceError::invalid(e.to_string()))?;
            let checked = survey::check(lf).map_err(|e| ServiceError::invalid(e.to_string()))?;
            if !checked.rejections.is_empty() {
                let reasons: Vec<String> = checked
                    .rejections
                    .iter()
                    .map(|r| format!("{} `{}`: expected {}", r.field, r.value, r.accepted))
                    .collect();
                return Err(ServiceError::invalid(reasons.join("; ")));
            }
            let mut rows = answers::from_frame(&checked.good).map_err(ServiceError::internal)?;
            rows.pop()
                .map(|(_, a)| a)
                .ok_or_else(|| ServiceError::invalid("the answer is empty"))
        })
        .await?;
        let respondent = answer.respondent_id.clone();
        let mut batch = vec![Mutation::Put(Row::new(
            ANSWERS,
            bucket(&respondent),
            answer.key(),
            answer.encode(),
        ))];
        let (grant, linked) = match self.owner(&respondent).await? {
            Some((owner, _)) => {
                let reached = self.reach(principal, &respondent, Some(&owner)).await?;
                match (person, &owner.beneficiary_id) {
                    (Some(p), Some(linked)) if p != linked => {
                        return Err(denied(format!(
                            "respondent `{respondent}` is another person's survey: choose another respondent id"
                        )));
                    }
                    (Some(p), None) => batch.extend(Self::link_mutations(&respondent, &owner, p)?),
                    _ => {}
                }
                let linked = person.map(str::to_owned).or(owner.beneficiary_id);
                (grant.unwrap_or(reached), linked)
            }
            None if !self.answers_of(&respondent).await?.is_empty() => {
                // Imported without an owner: statistics staff only, and it stays theirs.
                (self.reach(principal, &respondent, None).await?, None)
            }
            None => {
                // A new respondent: claimed first, so of two advisors picking one id, one has it.
                let owner = Owner {
                    structure: principal.structure.clone(),
                    beneficiary_id: person.map(str::to_owned),
                };
                let claimed = self
                    .store
                    .put_if_absent(Row::new(
                        OWNERS,
                        &respondent,
                        "",
                        serde_json::to_vec(&owner).map_err(ServiceError::internal)?,
                    ))
                    .await?;
                if !claimed {
                    return Err(ServiceError::Aborted(format!(
                        "respondent `{respondent}` was recorded by someone else at the same moment: try again"
                    )));
                }
                if let Some(p) = person {
                    batch.push(Mutation::Put(Row::new(
                        PEOPLE,
                        p,
                        format!("respondent/{respondent}"),
                        Vec::new(),
                    )));
                }
                (grant.unwrap_or(Grant::Own), owner.beneficiary_id)
            }
        };
        if let Some(p) = &linked {
            batch.extend(self.access.audit(
                p,
                &grant,
                "analytics.RecordResponse",
                &format!("survey of {}", answer.surveyed_on),
                self.clock.now(),
            ));
        }
        self.store.batch(batch).await?;
        let mut assessed = self.assess(vec![answer]).await?;
        assessed
            .pop()
            .ok_or_else(|| ServiceError::internal("no assessment"))
    }

    pub async fn respondent(
        &self,
        principal: &Principal,
        respondent: &str,
    ) -> Result<Vec<pb::Assessment>, ServiceError> {
        let owner = self.owner(respondent).await?.map(|(o, _)| o);
        let answers = self.answers_of(respondent).await?;
        if answers.is_empty() && owner.is_none() {
            principal.require_any(&[Role::Agent, Role::Manager, Role::Admin, Role::Beneficiary])?;
            return Err(ServiceError::NotFound(format!(
                "no survey answer for respondent `{respondent}`"
            )));
        }
        let grant = self.reach(principal, respondent, owner.as_ref()).await?;
        if let Some(person) = owner.as_ref().and_then(|o| o.beneficiary_id.as_deref())
            && let Some(entry) = self.access.audit(
                person,
                &grant,
                "analytics.GetRespondent",
                &format!("{} surveys", answers.len()),
                self.clock.now(),
            )
        {
            self.store.batch(vec![entry]).await?;
        }
        self.assess(answers).await
    }

    pub async fn assign(
        &self,
        principal: &Principal,
        request: pb::AssignPathwayRequest,
    ) -> Result<pb::Pathway, ServiceError> {
        let beneficiary = request.beneficiary_id.trim().to_owned();
        if beneficiary.is_empty() {
            return Err(ServiceError::invalid(
                "beneficiary_id is required: the person's account id",
            ));
        }
        let language = match request.language.trim() {
            "" | "fr" => "fr",
            "en" => "en",
            other => {
                return Err(ServiceError::invalid(format!(
                    "language `{other}` is not offered: expected fr or en"
                )));
            }
        };
        let now = self.clock.now();
        let grant = self
            .access
            .authorize(principal, &beneficiary, Scope::Pathways, now)
            .await?;
        let respondent = request.respondent_id.trim();
        let Some(baseline) = self.answers_of(respondent).await?.pop() else {
            return Err(ServiceError::FailedPrecondition(format!(
                "no survey answer for respondent `{respondent}`: record one first"
            )));
        };
        // The survey must be this person's: linked to them, or recorded anonymously by the
        // advisor's own structure (then it is linked now). Never someone else's.
        let mut linking = Vec::new();
        match self.owner(respondent).await?.map(|(o, _)| o) {
            Some(owner) if owner.beneficiary_id.as_deref() == Some(beneficiary.as_str()) => {}
            Some(owner) if owner.beneficiary_id.is_some() => {
                return Err(denied(format!(
                    "respondent `{respondent}` is another person's survey: a pathway is built on the person's own"
                )));
            }
            Some(owner) if owner.structure.is_some() && owner.structure == principal.structure => {
                linking = Self::link_mutations(respondent, &owner, &beneficiary)?;
            }
            Some(_) => {
                return Err(denied(format!(
                    "respondent `{respondent}` was surveyed by another structure: survey the person again"
                )));
            }
            None => {
                return Err(denied(format!(
                    "respondent `{respondent}` comes from an imported survey: record the person's own survey first"
                )));
            }
        }
        let assessed = self.assess(vec![baseline.clone()]).await?;
        let modules = assessed
            .first()
            .map(|a| a.modules.clone())
            .unwrap_or_default();
        let location = match (request.latitude, request.longitude) {
            (Some(latitude), Some(longitude)) => {
                if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
                    return Err(ServiceError::invalid(
                        "latitude goes from -90 to 90 and longitude from -180 to 180",
                    ));
                }
                Some((latitude, longitude))
            }
            (None, None) => self
                .rules
                .antennas
                .get(&baseline.antenna)
                .map(|l| (l.latitude, l.longitude)),
            _ => {
                return Err(ServiceError::invalid(
                    "give both latitude and longitude, or neither",
                ));
            }
        };
        let mut places_note = String::new();
        let mut steps = Vec::new();
        // Modules often ask for the same services: each search is made once.
        let mut searched: HashMap<Vec<String>, Vec<PlaceRecord>> = HashMap::new();
        for id in &modules {
            let module = self.rules.module(id).ok_or_else(|| {
                ServiceError::internal(format!("module {id} is not in the rules"))
            })?;
            let mut places = Vec::new();
            match (&self.places, location) {
                (Some(_), Some(_)) if searched.contains_key(&module.services) => {
                    places = searched[&module.services].clone();
                }
                (Some(finder), Some((lat, lon))) if places_note.is_empty() => {
                    let publics = self
                        .rules
                        .publics
                        .get(&baseline.age_band)
                        .cloned()
                        .unwrap_or_default();
                    match finder.nearest(&module.services, &publics, lat, lon).await {
                        Ok(found) => {
                            places = found
                                .into_iter()
                                .map(|p| PlaceRecord {
                                    place_id: p.place_id,
                                    name: p.name,
                                    address: p.address,
                                    distance_m: p.distance_m,
                                    phone: p.phone,
                                    booking: p.booking,
                                })
                                .collect();
                            searched.insert(module.services.clone(), places.clone());
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "no places for the pathway");
                            places_note = e;
                        }
                    }
                }
                (None, _) => places_note = "no directory is configured".into(),
                (_, None) if places_note.is_empty() => {
                    places_note = format!(
                        "no location: give latitude and longitude, or set antenna `{}` in the rules",
                        baseline.antenna
                    );
                }
                _ => {}
            }
            steps.push(StepRecord {
                module_id: id.clone(),
                places,
                done_at: None,
            });
        }
        let first_step = first_step(&self.rules, steps.first(), language);
        let record = PathwayRecord {
            id: uuid::Uuid::now_v7().to_string(),
            beneficiary_id: beneficiary.clone(),
            respondent_id: baseline.respondent_id.clone(),
            rules_version: self.rules.version.clone(),
            language: language.to_owned(),
            baseline,
            steps,
            first_step,
            assigned_at: now,
            assigned_by: principal
                .actor
                .clone()
                .unwrap_or_else(|| principal.subject.clone()),
            places_note,
        };
        let event_mutation = self.outbox.event(
            &beneficiary,
            &events::PathwayAssigned {
                pathway_id: record.id.clone(),
                beneficiary_id: beneficiary.clone(),
                respondent_id: String::new(),
                rules_version: record.rules_version.clone(),
                level: assessed.first().map_or(0, |a| a.level),
                modules: modules.clone(),
                first_place_id: record
                    .steps
                    .first()
                    .and_then(|s| s.places.first())
                    .map(|p| p.place_id.clone())
                    .unwrap_or_default(),
                assigned_by: record.assigned_by.clone(),
            },
        );
        let mut batch = vec![
            Mutation::Put(Row::new(
                PATHWAYS,
                &record.id,
                "",
                serde_json::to_vec(&record).map_err(ServiceError::internal)?,
            )),
            event_mutation,
            Mutation::Put(Row::new(
                PEOPLE,
                &beneficiary,
                format!("pathway/{}", record.id),
                Vec::new(),
            )),
        ];
        batch.extend(linking);
        batch.extend(self.access.audit(
            &beneficiary,
            &grant,
            "analytics.AssignPathway",
            &format!("pathway {} ({})", record.id, modules.join(", ")),
            now,
        ));
        self.outbox.commit(batch).await?;
        tracing::info!(pathway_id = %record.id, steps = record.steps.len(), "pathway assigned");
        self.to_pb(&record, assessed.into_iter().next()).await
    }

    /// A pathway with the steps marked done so far.
    async fn load(&self, id: &str) -> Result<PathwayRecord, ServiceError> {
        let bytes = self
            .store
            .get(PATHWAYS, id, "")
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no pathway `{id}`")))?;
        let mut record: PathwayRecord =
            serde_json::from_slice(&bytes).map_err(ServiceError::internal)?;
        for (module, at) in self.store.scan_all(STEPS_DONE, id).await? {
            let at = std::str::from_utf8(&at)
                .ok()
                .and_then(|t| t.parse::<i64>().ok());
            if let Some(step) = record.steps.iter_mut().find(|s| s.module_id == module) {
                step.done_at = at;
            }
        }
        Ok(record)
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<pb::Pathway, ServiceError> {
        let record = self.load(id).await?;
        let grant = self
            .access
            .authorize(
                principal,
                &record.beneficiary_id,
                Scope::Pathways,
                self.clock.now(),
            )
            .await?;
        self.audit_read(&record, &grant, "analytics.GetPathway")
            .await?;
        self.to_pb(&record, None).await
    }

    /// A read of a person's pathway under a mandate, in their trail.
    async fn audit_read(
        &self,
        record: &PathwayRecord,
        grant: &Grant,
        action: &str,
    ) -> Result<(), ServiceError> {
        if let Some(entry) = self.access.audit(
            &record.beneficiary_id,
            grant,
            action,
            &format!("pathway {}", record.id),
            self.clock.now(),
        ) {
            self.store.batch(vec![entry]).await?;
        }
        Ok(())
    }

    /// Marks a step done. Each step's state is a row of its own, written in one batch with
    /// its event and audit entry: two advisors marking two steps at once lose nothing.
    pub async fn complete(
        &self,
        principal: &Principal,
        id: &str,
        module: &str,
    ) -> Result<pb::Pathway, ServiceError> {
        let mut record = self.load(id).await?;
        let now = self.clock.now();
        let grant = self
            .access
            .authorize(principal, &record.beneficiary_id, Scope::Pathways, now)
            .await?;
        let ids: Vec<String> = record.steps.iter().map(|s| s.module_id.clone()).collect();
        let Some(step) = record.steps.iter_mut().find(|s| s.module_id == module) else {
            return Err(ServiceError::invalid(format!(
                "module `{module}` is not a step of this pathway: its steps are {}",
                ids.join(", ")
            )));
        };
        if step.done_at.is_some() {
            return self.to_pb(&record, None).await;
        }
        step.done_at = Some(now);
        let done = record.steps.iter().filter(|s| s.done_at.is_some()).count();
        let by = principal
            .actor
            .clone()
            .unwrap_or_else(|| principal.subject.clone());
        let event_mutation = self.outbox.event(
            &record.beneficiary_id,
            &events::PathwayStepCompleted {
                pathway_id: record.id.clone(),
                beneficiary_id: record.beneficiary_id.clone(),
                module_id: module.to_owned(),
                steps_done: u32::try_from(done).unwrap_or(u32::MAX),
                steps_total: u32::try_from(record.steps.len()).unwrap_or(u32::MAX),
                completed_by: by,
            },
        );
        let mut batch = vec![
            Mutation::Put(Row::new(
                STEPS_DONE,
                &record.id,
                module,
                now.to_string().into_bytes(),
            )),
            event_mutation,
        ];
        batch.extend(self.access.audit(
            &record.beneficiary_id,
            &grant,
            "analytics.CompleteStep",
            &format!("pathway {}: {module} done", record.id),
            now,
        ));
        self.outbox.commit(batch).await?;
        self.to_pb(&record, None).await
    }

    pub async fn progress(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<pb::Progress, ServiceError> {
        let record = self.load(id).await?;
        let grant = self
            .access
            .authorize(
                principal,
                &record.beneficiary_id,
                Scope::Pathways,
                self.clock.now(),
            )
            .await?;
        self.audit_read(&record, &grant, "analytics.MeasureProgress")
            .await?;
        let latest = self
            .answers_of(&record.respondent_id)
            .await?
            .pop()
            .unwrap_or_else(|| record.baseline.clone());
        let mut assessed = self.assess(vec![record.baseline.clone(), latest]).await?;
        let latest = assessed
            .pop()
            .ok_or_else(|| ServiceError::internal("no assessment"))?;
        let baseline = assessed
            .pop()
            .ok_or_else(|| ServiceError::internal("no assessment"))?;
        let areas = baseline
            .areas
            .iter()
            .zip(&latest.areas)
            .map(|(b, a)| pb::AreaProgress {
                id: b.id.clone(),
                label: b.label.clone(),
                before: b.score,
                after: a.score,
            })
            .collect();
        Ok(pb::Progress {
            pathway_id: record.id.clone(),
            level_gain: i32::try_from(latest.level).unwrap_or(0)
                - i32::try_from(baseline.level).unwrap_or(0),
            score_gain: ((latest.score - baseline.score) * 10.0).round() / 10.0,
            areas,
            steps_done: u32::try_from(record.steps.iter().filter(|s| s.done_at.is_some()).count())
                .unwrap_or(0),
            steps_total: u32::try_from(record.steps.len()).unwrap_or(0),
            baseline: Some(baseline),
            latest: Some(latest),
        })
    }

    /// The dashboard tables over every stored answer.
    pub async fn dashboards(&self, period: Period) -> Result<(Dashboards, usize), ServiceError> {
        let all = self.all_answers().await?;
        let count = all.len();
        let rules = Arc::clone(&self.rules);
        let dashboards = blocking(move || {
            let rows = answers::to_frame(&all).map_err(ServiceError::internal)?;
            pipeline::dashboards(pipeline::scored(rows, &rules), &rules, period)
                .map_err(ServiceError::internal)
        })
        .await?;
        Ok((dashboards, count))
    }

    pub async fn dashboard(
        &self,
        principal: &Principal,
        period: &str,
    ) -> Result<pb::Dashboard, ServiceError> {
        principal.require_any(&[Role::Manager, Role::Admin])?;
        let period = if period.trim().is_empty() {
            Period::default()
        } else {
            Period::parse(period).map_err(ServiceError::invalid)?
        };
        let (dashboards, answers) = self.dashboards(period).await?;
        let (tables, respondents) = blocking(move || {
            let respondents = dashboards
                .indicators
                .clone()
                .lazy()
                .filter(col("breakdown").eq(lit(pipeline::ALL)))
                .select([col("respondents")])
                .collect()
                .ok()
                .and_then(|df| df.column("respondents").ok()?.u32().ok()?.get(0))
                .unwrap_or(0);
            let mut tables = Vec::new();
            for (name, table) in dashboards.tables() {
                let mut table = table.clone();
                let mut csv = Vec::new();
                CsvWriter::new(&mut csv)
                    .include_header(true)
                    .finish(&mut table)
                    .map_err(ServiceError::internal)?;
                tables.push(pb::Table {
                    name: name.to_owned(),
                    csv,
                    rows: u32::try_from(table.height()).unwrap_or(u32::MAX),
                });
            }
            Ok((tables, respondents))
        })
        .await?;
        Ok(pb::Dashboard {
            tables,
            respondents,
            answers: u32::try_from(answers).unwrap_or(u32::MAX),
            min_cell_size: self.rules.min_cell_size,
            rules_version: self.rules.version.clone(),
        })
    }

    /// The pathway as sent; `baseline` is the assessment of its baseline survey when already
    /// made.
    async fn to_pb(
        &self,
        record: &PathwayRecord,
        baseline: Option<pb::Assessment>,
    ) -> Result<pb::Pathway, ServiceError> {
        let baseline = match baseline {
            Some(assessed) => Some(assessed),
            None => self.assess(vec![record.baseline.clone()]).await?.pop(),
        };
        let english = record.language == "en";
        let steps = record
            .steps
            .iter()
            .map(|s| pb::Step {
                module_id: s.module_id.clone(),
                title: self
                    .rules
                    .module(&s.module_id)
                    .map(|m| {
                        if english {
                            m.title_en.clone()
                        } else {
                            m.title_fr.clone()
                        }
                    })
                    .unwrap_or_else(|| s.module_id.clone()),
                places: s
                    .places
                    .iter()
                    .map(|p| pb::PlaceSuggestion {
                        place_id: p.place_id.clone(),
                        name: p.name.clone(),
                        address: p.address.clone(),
                        distance_m: p.distance_m,
                        phone: p.phone.clone(),
                        booking: p.booking.clone(),
                    })
                    .collect(),
                done: s.done_at.is_some(),
                done_at: s.done_at.unwrap_or(0),
            })
            .collect();
        Ok(pb::Pathway {
            pathway_id: record.id.clone(),
            beneficiary_id: record.beneficiary_id.clone(),
            respondent_id: record.respondent_id.clone(),
            rules_version: record.rules_version.clone(),
            baseline,
            steps,
            first_step: record.first_step.clone(),
            assigned_at: record.assigned_at,
            assigned_by: record.assigned_by.clone(),
            places_note: record.places_note.clone(),
        })
    }
}

/// What the person does first: the first module's first step, at its nearest place.
fn first_step(rules: &Rules, step: Option<&StepRecord>, language: &str) -> String {
    let english = language == "en";
    let Some(step) = step else {
        return if english {
            "Nothing to learn here: the person is autonomous for every task surveyed.".into()
        } else {
            "Rien à apprendre ici : la personne est autonome pour chaque tâche de l'enquête.".into()
        };
    };
    let Some(module) = rules.module(&step.module_id) else {
        return step.module_id.clone();
    };
    let template = if english {
        &module.first_step_en
    } else {
        &module.first_step_fr
    };
    let place = match step.places.first() {
        Some(p) => format!("{} ({})", p.name, p.address),
        None if english => "a digital-help place near you (ask your advisor)".into(),
        None => "un lieu d'aide au numérique proche (demandez à votre conseiller)".into(),
    };
    template.replace("{place}", &place)
}

/// Scores, level and pathway of each answer, in order.
pub fn assess(rules: &Rules, answers: &[Answer]) -> PolarsResult<Vec<pb::Assessment>> {
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
        out.push(pb::Assessment {
            respondent_id: answer.respondent_id.clone(),
            surveyed_on: answer.surveyed_on.clone(),
            score: round(scores[i]),
            level: u32::from(level),
            level_label: rules
                .level(level)
                .map(|l| l.label_fr.clone())
                .unwrap_or_default(),
            areas: areas
                .iter()
                .map(|(area, values)| pb::Score {
                    id: area.id.clone(),
                    label: area.label_fr.clone(),
                    score: round(values[i]),
                })
                .collect(),
            tasks: tasks
                .iter()
                .map(|(task, values)| pb::Score {
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
