//! Pathways: modules in order with their places from the directory, steps done, progress
//! measured against the baseline survey.

use super::*;

/// Pathways as stored: partition = pathway id.
const PATHWAY_RECORDS: Table<PathwayRecord> = Table::new(PATHWAYS);

/// A pathway as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct PathwayRecord {
    pub(super) id: String,
    pub(super) beneficiary_id: String,
    pub(super) respondent_id: String,
    pub(super) rules_version: String,
    pub(super) language: String,
    pub(super) baseline: Answer,
    pub(super) steps: Vec<StepRecord>,
    pub(super) first_step: String,
    pub(super) assigned_at: i64,
    pub(super) assigned_by: String,
    pub(super) places_note: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct StepRecord {
    pub(super) module_id: String,
    pub(super) places: Vec<PlaceSuggestion>,
    pub(super) done_at: Option<i64>,
}

/// What the person does first: the first module's first step, at its nearest place.
pub(super) fn first_step(rules: &Rules, step: Option<&StepRecord>, language: &str) -> String {
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

impl Analytics {
    pub async fn assign(
        &self,
        principal: &Principal,
        request: Assignment,
    ) -> Result<Pathway, ServiceError> {
        let beneficiary = request.beneficiary_id.clone();
        let language = request.language.as_str();
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
        match self.owner(respondent).await? {
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
        let location = request.point.or_else(|| {
            self.rules
                .antennas
                .get(&baseline.antenna)
                .map(|l| (l.latitude, l.longitude))
        });
        let mut places_note = String::new();
        let mut steps = Vec::new();
        // Modules often ask for the same services: each search is made once.
        let mut searched: HashMap<Vec<String>, Vec<PlaceSuggestion>> = HashMap::new();
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
                            places = found;
                            searched.insert(module.services.clone(), places.clone());
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "no places for the pathway");
                            places_note = e.to_string();
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
                level: assessed.first().map_or(0, |a| u32::from(a.level)),
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
            PATHWAY_RECORDS.put_mutation(&record.id, "", &record)?,
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
        self.view(&record, assessed.into_iter().next()).await
    }

    /// A pathway with the steps marked done so far.
    pub(super) async fn load(&self, id: &str) -> Result<PathwayRecord, ServiceError> {
        let mut record = PATHWAY_RECORDS
            .get(&*self.store, id, "")
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no pathway `{id}`")))?;
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

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<Pathway, ServiceError> {
        let record = self.read(principal, id, "analytics.GetPathway").await?;
        self.view(&record, None).await
    }

    /// A pathway read under a `pathways` mandate (or by the person), the read in their trail.
    async fn read(
        &self,
        principal: &Principal,
        id: &str,
        act: &str,
    ) -> Result<PathwayRecord, ServiceError> {
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
        self.audit_read(&record, &grant, act).await?;
        Ok(record)
    }

    /// A read of a person's pathway under a mandate, in their trail.
    pub(super) async fn audit_read(
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
    ) -> Result<Pathway, ServiceError> {
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
            return self.view(&record, None).await;
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
        self.view(&record, None).await
    }

    pub async fn progress(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<Progress, ServiceError> {
        let record = self
            .read(principal, id, "analytics.MeasureProgress")
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
        Ok(Progress::between(
            &record.id,
            baseline,
            latest,
            record.steps.iter().filter(|s| s.done_at.is_some()).count(),
            record.steps.len(),
        ))
    }

    /// The pathway as people read it; `baseline` is the assessment of its baseline survey
    /// when already made.
    pub(super) async fn view(
        &self,
        record: &PathwayRecord,
        baseline: Option<Assessment>,
    ) -> Result<Pathway, ServiceError> {
        let baseline = match baseline {
            Some(assessed) => Some(assessed),
            None => self.assess(vec![record.baseline.clone()]).await?.pop(),
        };
        let english = record.language == "en";
        let steps = record
            .steps
            .iter()
            .map(|s| Step {
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
                places: s.places.clone(),
                done_at: s.done_at,
            })
            .collect();
        Ok(Pathway {
            id: record.id.clone(),
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
