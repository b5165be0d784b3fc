//! Survey answers: imported from files or recorded one by one, checked like a file's rows,
//! stored without duplicates, assessed through the Polars pipeline.

use super::*;

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

impl Analytics {
    /// Every stored answer.
    pub async fn all_answers(&self) -> Result<Vec<Answer>, ServiceError> {
        let mut out = Vec::new();
        for b in 0..BUCKETS {
            for (_, bytes) in self.store.scan_all(ANSWERS, &format!("b{b:02}")).await? {
                out.push(Answer::decode(&bytes)?);
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
            .map(|(_, bytes)| Answer::decode(bytes).map_err(ServiceError::from))
            .collect()
    }

    /// Stores checked answers: new ones added, changed ones replaced, the same ones left.
    pub(super) async fn store_answers(
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
        let latest = survey::latest_day(self.clock.now());
        let (checked, rows) = blocking(move || {
            let checked = survey::read_checked(&path, latest)
                .map_err(|e| ServiceError::invalid(e.to_string()))?;
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
    pub async fn assess(&self, answers: Vec<Answer>) -> Result<Vec<Assessment>, ServiceError> {
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
    ) -> Result<Assessment, ServiceError> {
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
        let latest = survey::latest_day(self.clock.now());
        let answer = blocking(move || {
            let lf =
                survey::from_text(&[text]).map_err(|e| ServiceError::invalid(e.to_string()))?;
            let checked =
                survey::check(lf, latest).map_err(|e| ServiceError::invalid(e.to_string()))?;
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
            Some(owner) => {
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
                let claimed = OWNER_RECORDS
                    .put_if_absent(&*self.store, &respondent, "", &owner)
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
    ) -> Result<Vec<Assessment>, ServiceError> {
        let owner = self.owner(respondent).await?;
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
}
