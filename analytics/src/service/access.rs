//! Whose answers are whose: the person linked, the structure that surveyed them, or the
//! statistics staff for imported files; erasure of a person's surveys and pathways.

use super::*;

/// Who a respondent's answers belong to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Owner {
    /// The structure that surveyed them (none for imported surveys).
    pub(super) structure: Option<String>,
    /// The person's account, once the answers are linked to it.
    pub(super) beneficiary_id: Option<String>,
}

/// Each respondent's owner: partition = respondent id.
pub(super) const OWNER_RECORDS: Table<Owner> = Table::new(OWNERS);

impl Analytics {
    pub(super) async fn owner(&self, respondent: &str) -> Result<Option<Owner>, ServiceError> {
        Ok(OWNER_RECORDS.get(&*self.store, respondent, "").await?)
    }

    /// May `principal` read or add to `respondent`'s answers? The grant says whether it is
    /// under a mandate (then the act goes to the person's trail).
    pub(super) async fn reach(
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
    pub(super) fn link_mutations(
        respondent: &str,
        owner: &Owner,
        person: &str,
    ) -> Result<Vec<Mutation>, ServiceError> {
        let linked = Owner {
            beneficiary_id: Some(person.to_owned()),
            ..owner.clone()
        };
        Ok(vec![
            OWNER_RECORDS.put_mutation(respondent, "", &linked)?,
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
