//! Procedure checklists: which papers a procedure needs, which the person has, which are
//! missing or expired.

use super::*;

/// A checklist line.
#[derive(Clone, Debug)]
pub struct ChecklistLine {
    pub requirement: procedures::Requirement,
    pub status: Status,
    pub document_id: Option<String>,
}

impl Vault {
    // ----- procedures -----------------------------------------------------------------------

    pub fn procedures(&self) -> &[Procedure] {
        &self.procedures
    }

    pub async fn checklist(
        &self,
        principal: &Principal,
        owner: &str,
        procedure_id: &str,
    ) -> Result<(Procedure, Vec<ChecklistLine>), ServiceError> {
        let procedure = self
            .procedures
            .iter()
            .find(|p| p.id == procedure_id)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = self.procedures.iter().map(|p| p.id.as_str()).collect();
                ServiceError::NotFound(format!(
                    "no procedure `{procedure_id}`: known are {}",
                    known.join(", ")
                ))
            })?;
        let grant = self.authorize(principal, owner).await?;
        let documents: Vec<Document> = self
            .all_documents(owner)
            .await?
            .into_iter()
            .filter(|d| Self::visible(&grant, d))
            .collect();
        let today = self.today();
        let lines = procedure
            .requirements
            .iter()
            .map(|r| {
                let (status, doc) = procedures::evaluate(r, &documents, today);
                ChecklistLine {
                    requirement: r.clone(),
                    status,
                    document_id: doc.map(|d| d.id.clone()),
                }
            })
            .collect();
        self.audit(owner, &grant, "vault.Checklist", procedure_id)
            .await?;
        Ok((procedure, lines))
    }
}
