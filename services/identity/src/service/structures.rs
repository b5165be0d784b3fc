//! The registry of structures: the CCAS antennas, France Services hubs, associations… that
//! accounts and mandates may name, with the names people read in lists and summaries.

use std::collections::BTreeMap;

use passerelle_kit::ServiceError;
use passerelle_kit::auth::Principal;
use passerelle_store::Table;

use super::{Identity, denied, is_admin};
use crate::domain::{Structure, StructureKind, parse_structure};

const STRUCTURES: Table<Structure> = Table::new("structures");
/// The registry is small (a city's structures): one partition.
const ALL: &str = "all";
/// How many known ids a refusal lists.
const LISTED_IN_REFUSAL: usize = 12;

/// The platform's own administration, the first admin's structure: always registered.
pub fn platform_structure() -> Structure {
    Structure {
        id: "passerelle".into(),
        display_name: "Passerelle (administration)".into(),
        kind: StructureKind::Other,
    }
}

impl Identity {
    async fn all_structures(&self) -> Result<Vec<Structure>, ServiceError> {
        Ok(STRUCTURES
            .scan_all(&*self.store, ALL)
            .await?
            .into_iter()
            .map(|(_, s)| s)
            .collect())
    }

    /// Every structure, by display name. Anyone signed in (the caller got here with a token).
    pub async fn list_structures(
        &self,
        _principal: &Principal,
    ) -> Result<Vec<Structure>, ServiceError> {
        let mut all = self.all_structures().await?;
        all.sort_by_cached_key(|s| (s.display_name.to_lowercase(), s.id.clone()));
        Ok(all)
    }

    /// Registers or changes a structure: an admin with their own token.
    pub async fn save_structure(
        &self,
        principal: &Principal,
        structure: Structure,
    ) -> Result<Structure, ServiceError> {
        if !is_admin(principal) {
            return Err(denied(
                "only an admin, with their own account, registers structures",
            ));
        }
        STRUCTURES
            .put(&*self.store, ALL, &structure.id, &structure)
            .await?;
        tracing::info!(structure = %structure.id, by = %principal.subject, "structure saved");
        Ok(structure)
    }

    /// Registers each structure not registered yet (from the `--structures` file at start):
    /// an admin's later changes are kept. How many were added.
    pub async fn seed_structures(&self, seeds: &[Structure]) -> Result<usize, ServiceError> {
        let mut added = 0;
        for structure in seeds {
            if STRUCTURES
                .put_if_absent(&*self.store, ALL, &structure.id, structure)
                .await?
            {
                added += 1;
            } else if let Some(registered) =
                STRUCTURES.get(&*self.store, ALL, &structure.id).await?
                && registered != *structure
            {
                tracing::warn!(
                    structure = %structure.id,
                    file = %structure.display_name,
                    registry = %registered.display_name,
                    "the structures file differs from the registry, which is kept: change it with SaveStructure"
                );
            }
        }
        Ok(added)
    }

    /// The registered structure `id` (case folded: a token's `CCAS-Nord` is `ccas-nord`), or a
    /// refusal naming the registered ones.
    pub(super) async fn registered(&self, id: &str) -> Result<Structure, ServiceError> {
        let id = parse_structure(id)?;
        if let Some(structure) = STRUCTURES.get(&*self.store, ALL, &id).await? {
            return Ok(structure);
        }
        let known: Vec<String> = self
            .list_structures(&Principal::system())
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
        let listed = match known.len() {
            0 => "none is registered yet".to_owned(),
            n if n > LISTED_IN_REFUSAL => format!(
                "expected one of {}… ({n} in all, see ListStructures)",
                known[..LISTED_IN_REFUSAL].join(", ")
            ),
            _ => format!("expected one of {}", known.join(", ")),
        };
        Err(ServiceError::InvalidArgument(format!(
            "structure `{id}` is not registered: {listed}; an admin registers structures (SaveStructure)"
        )))
    }

    /// Display names by id, for summaries.
    pub async fn structure_names(&self) -> Result<BTreeMap<String, String>, ServiceError> {
        Ok(self
            .all_structures()
            .await?
            .into_iter()
            .map(|s| (s.id, s.display_name))
            .collect())
    }

    /// The name people read for structure `id` (the id itself when the registry has none).
    pub async fn structure_name(&self, id: &str) -> Result<String, ServiceError> {
        Ok(STRUCTURES
            .get(&*self.store, ALL, id)
            .await?
            .map_or_else(|| id.to_owned(), |s| s.display_name))
    }
}
