//! The directory's operations: search, edits, imports with de-duplication, exports.

use std::sync::{Arc, RwLock};

use passerelle_bus::event;
use passerelle_bus::outbox::Outbox;
use passerelle_kit::ServiceError;
use passerelle_kit::auth::{Principal, Role};
use passerelle_proto::events::v1 as events;
use passerelle_store::{DynStore, Mutation, Row, Table};

use crate::error::NotYours;
use crate::files::{self, Format, ParsedRow};
use crate::index::{Hit, Index, Query};
use crate::schema::{Place, Rejection, Warning, match_key, parse_pivot, postcode_agrees};

pub const PRODUCER: &str = "directory";
const PLACES: &str = "places";
/// Places by department: partition = department, clustering = place id.
const PLACE_ROWS: Table<Place> = Table::new(PLACES);
const DEPARTMENTS: &str = "place_departments";
/// The structure that keeps each place: partition = place id, value = structure id. Places
/// imported by an operator have none.
const OWNERS: &str = "place_owners";
/// Places farther apart than this are never the same place (unless one SIRET at one address).
const DUPLICATE_RADIUS_M: f64 = 150.0;
/// Places this close with alike names are the same place, with no other evidence.
const DUPLICATE_CLOSE_M: f64 = 50.0;
/// Jaro-Winkler similarity of normalised names above which two nearby places may be one.
const DUPLICATE_NAME_SIMILARITY: f64 = 0.88;
/// Places written per store batch during an import.
const IMPORT_BATCH: usize = 500;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportReport {
    pub imported: usize,
    pub updated: usize,
    /// `(line, imported id, existing id, why)`.
    pub merged: Vec<(usize, String, String, String)>,
    pub rejected: Vec<Rejection>,
    /// Places kept with a doubtful value left out, or kept as written.
    pub warnings: Vec<Warning>,
}

#[derive(Clone)]
pub struct Directory {
    store: DynStore,
    // std RwLock: searches hold it briefly and never across an await.
    index: Arc<RwLock<Index>>,
    outbox: Outbox,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").finish_non_exhaustive()
    }
}

impl Directory {
    /// Loads every place from the store into the search index.
    pub async fn load(store: DynStore, outbox: Outbox) -> Result<Self, ServiceError> {
        let mut places = Vec::new();
        for (department, _) in store.scan_all(DEPARTMENTS, "all").await? {
            for (_, place) in PLACE_ROWS.scan_all(&*store, &department).await? {
                places.push(place);
            }
        }
        tracing::info!(places = places.len(), "directory loaded");
        Ok(Self {
            store,
            index: Arc::new(RwLock::new(Index::build(places))),
            outbox,
        })
    }

    fn read_index<T>(&self, f: impl FnOnce(&Index) -> T) -> Result<T, ServiceError> {
        self.index
            .read()
            .map(|index| f(&index))
            .map_err(|_| ServiceError::internal("directory index poisoned"))
    }

    fn write_index(&self, f: impl FnOnce(&mut Index)) -> Result<(), ServiceError> {
        self.index
            .write()
            .map(|mut index| f(&mut index))
            .map_err(|_| ServiceError::internal("directory index poisoned"))
    }

    pub fn len(&self) -> usize {
        self.read_index(Index::len).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn search(&self, query: &Query) -> Result<Vec<Hit>, ServiceError> {
        self.read_index(|index| index.search(query))
    }

    /// The same search, by scanning every place (the benchmark's baseline).
    pub fn scan(&self, query: &Query) -> Result<Vec<Hit>, ServiceError> {
        self.read_index(|index| index.scan(query))
    }

    pub fn get(&self, id: &str) -> Result<Place, ServiceError> {
        self.read_index(|index| index.get(id).map(|e| (*e.place).clone()))?
            .ok_or_else(|| ServiceError::NotFound(format!("no place `{id}`")))
    }

    fn may_edit(principal: &Principal) -> Result<(), ServiceError> {
        if principal.actor.is_some() {
            return Err(ServiceError::PermissionDenied(
                "places are edited with your own account".into(),
            ));
        }
        principal.require_any(&[Role::Agent, Role::Manager, Role::Admin])
    }

    async fn owner(&self, id: &str) -> Result<Option<String>, ServiceError> {
        Ok(self
            .store
            .get(OWNERS, id, "")
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Who may change a place: an admin, any; the staff of the structure that keeps it; a
    /// manager, the places an operator imported (kept by nobody); anyone on staff, a new place
    /// (then kept by their structure).
    fn check_change(
        principal: &Principal,
        id: &str,
        owner: Option<&str>,
        exists: bool,
    ) -> Result<(), NotYours> {
        if principal.has_role(Role::Admin) {
            return Ok(());
        }
        let mine = principal.structure.as_deref();
        match owner {
            Some(owner) if Some(owner) == mine => Ok(()),
            Some(owner) => Err(NotYours::KeptBy {
                id: id.to_owned(),
                owner: owner.to_owned(),
            }),
            None if !exists || principal.has_role(Role::Manager) => Ok(()),
            None => Err(NotYours::Imported { id: id.to_owned() }),
        }
    }

    /// The structure a new place is kept by: the editor's (none for an admin's, or an
    /// operator's import).
    fn keeper(principal: Option<&Principal>) -> Option<String> {
        principal
            .filter(|p| !p.has_role(Role::Admin))
            .and_then(|p| p.structure.clone())
    }

    fn mutations(
        &self,
        place: &Place,
        by: Option<&Principal>,
    ) -> Result<Vec<Mutation>, ServiceError> {
        let department = place.department();
        let json = files::to_json(place);
        let event = self.outbox.event(
            &place.id,
            &events::PlaceUpserted {
                place_id: place.id.clone(),
                place_json: json,
                changed_by: by.map(|p| p.subject.clone()).unwrap_or_default(),
                structure: by.and_then(|p| p.structure.clone()).unwrap_or_default(),
            },
        );
        Ok(vec![
            PLACE_ROWS.put_mutation(&department, &place.id, place)?,
            Mutation::Put(Row::new(DEPARTMENTS, "all", &department, Vec::new())),
            event,
        ])
    }

    /// Removes a place's row when it moved to another department.
    fn moved(&self, place: &Place) -> Option<Mutation> {
        let old = self
            .read_index(|index| index.get(&place.id).map(|e| e.department.clone()))
            .ok()
            .flatten()?;
        (old != place.department()).then(|| Mutation::delete(PLACES, old, &place.id))
    }

    pub async fn upsert(&self, principal: &Principal, place: Place) -> Result<Place, ServiceError> {
        Self::may_edit(principal)?;
        let owner = self.owner(&place.id).await?;
        let exists = self.read_index(|index| index.get(&place.id).is_some())?;
        Self::check_change(principal, &place.id, owner.as_deref(), exists)?;
        if owner.is_none()
            && !exists
            && let Some(keeper) = Self::keeper(Some(principal))
        {
            // Of two structures creating one id at once, the first keeps it.
            let claimed = self
                .store
                .put_if_absent(Row::new(OWNERS, &place.id, "", keeper.clone().into_bytes()))
                .await?;
            if !claimed {
                return Err(ServiceError::Aborted(format!(
                    "place `{}` was created by someone else at the same moment: look at it, then try again",
                    place.id
                )));
            }
        }
        let mut batch = self.mutations(&place, Some(principal))?;
        batch.extend(self.moved(&place));
        self.outbox.commit(batch).await?;
        self.write_index(|index| index.upsert(place.clone()))?;
        tracing::info!(place_id = %place.id, by = %principal.subject, "place saved");
        Ok(place)
    }

    pub async fn delete(&self, principal: &Principal, id: &str) -> Result<(), ServiceError> {
        principal.require_any(&[Role::Manager, Role::Admin])?;
        if principal.actor.is_some() {
            return Err(ServiceError::PermissionDenied(
                "places are deleted with your own account".into(),
            ));
        }
        let place = self.get(id)?;
        Self::check_change(principal, id, self.owner(id).await?.as_deref(), true)?;
        let event = self.outbox.event(
            id,
            &events::PlaceDeleted {
                place_id: id.to_owned(),
            },
        );
        self.outbox
            .commit(vec![
                Mutation::delete(PLACES, place.department(), id),
                Mutation::delete(OWNERS, id, ""),
                event,
            ])
            .await?;
        self.write_index(|index| {
            index.remove(id);
        })?;
        tracing::info!(place_id = %id, by = %principal.subject, "place deleted");
        Ok(())
    }

    /// Why `other` is the same place as `place`, if it is. Two rows are one place when:
    /// - they carry the same valid SIRET or RNA number at the same address (wherever their
    ///   pins are: the index finds places by pivot too); or
    /// - they are within 150 m, their names carry the same numbers ("… 1203" is not "… 891"),
    ///   and either their names are the same once case, accents and punctuation are set aside,
    ///   or their names are alike (Jaro-Winkler ≥ 0.88) with one more piece of evidence: within
    ///   50 m, the same address, or the same phone number.
    ///
    /// Two rows carrying different valid pivots are never one place.
    fn alike(place: &Place, other: &Place) -> Option<String> {
        if other.id == place.id {
            return None;
        }
        let valid = |p: &Place| valid_pivot(&p.pivot).then(|| p.pivot.clone());
        let same_address = match_key(&place.adresse) == match_key(&other.adresse)
            && place.code_postal == other.code_postal;
        match (valid(place), valid(other)) {
            (Some(a), Some(b)) if a != b => return None,
            (Some(a), Some(_)) if same_address => {
                return Some(format!("same SIRET {a} at the same address"));
            }
            _ => {}
        }
        let (lat, lon) = (place.latitude?, place.longitude?);
        let (olat, olon) = (other.latitude?, other.longitude?);
        let distance = crate::geo::distance_m(lat, lon, olat, olon);
        if distance > DUPLICATE_RADIUS_M {
            return None;
        }
        let numbers = |name: &str| -> Vec<String> {
            name.split(|c: char| !c.is_ascii_digit())
                .filter(|n| !n.is_empty())
                .map(|n| n.trim_start_matches('0').to_owned())
                .collect()
        };
        if numbers(&place.nom) != numbers(&other.nom) {
            return None;
        }
        let (name, other_name) = (match_key(&place.nom), match_key(&other.nom));
        if name == other_name {
            return Some(format!("{distance:.0} m away, the same name"));
        }
        let similarity = strsim::jaro_winkler(&name, &other_name);
        if similarity < DUPLICATE_NAME_SIMILARITY {
            return None;
        }
        let evidence = if distance <= DUPLICATE_CLOSE_M {
            "close by"
        } else if same_address {
            "the same address"
        } else if !place.telephone.is_empty() && place.telephone == other.telephone {
            "the same phone"
        } else {
            return None;
        };
        Some(format!(
            "{distance:.0} m away, names {:.0}% alike, {evidence}",
            similarity * 100.0
        ))
    }

    /// A place already here that `place` duplicates.
    /// Judged against the latest version of each place: the one this import holds for it
    /// (`pending`, merged but not yet written) rather than the index's.
    fn duplicate_of(index: &Index, pending: &[Place], place: &Place) -> Option<(String, String)> {
        // The same SIRET wherever it is (coordinates may be missing or wrong), then the
        // neighbourhood.
        let same_pivot = index.with_pivot(&place.pivot);
        let nearby = match (place.latitude, place.longitude) {
            (Some(lat), Some(lon)) => index.within(lat, lon, DUPLICATE_RADIUS_M),
            _ => Vec::new(),
        };
        same_pivot.into_iter().chain(nearby).find_map(|entry| {
            let latest = pending
                .iter()
                .find(|p| p.id == entry.place.id)
                .unwrap_or(&*entry.place);
            Self::alike(place, latest).map(|why| (entry.place.id.clone(), why))
        })
    }

    /// Imports parsed rows: new places added, known ids updated, duplicates merged into the
    /// place already here (never silently), bad rows reported. `progress` gets (done, total).
    ///
    /// By staff (over gRPC): managers and admins; a place kept by another structure is not
    /// changed (its row is reported), new places are kept by the importer's structure. By an
    /// operator (`principal` none, the CLI): every row, new places kept by nobody.
    ///
    /// The search index changes only after the store has the rows: a failed write leaves no
    /// place in the index that is not stored.
    pub async fn import(
        &self,
        principal: Option<&Principal>,
        rows: Vec<ParsedRow>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<ImportReport, ServiceError> {
        if let Some(principal) = principal {
            Self::may_edit(principal)?;
            principal.require_any(&[Role::Manager, Role::Admin])?;
        }
        let keeper = Self::keeper(principal);
        let total = rows.len();
        let mut report = ImportReport::default();
        let mut batch = Vec::new();
        // Saved but not yet written: later rows of the file see them (duplicates within a
        // file merge too) before the index does.
        let mut pending: Vec<Place> = Vec::new();
        for (done, (line, row)) in rows.into_iter().enumerate() {
            progress(done, total);
            let (place, warnings) = match row {
                Ok(parsed) => (parsed.place, parsed.warnings),
                Err(rejection) => {
                    report.rejected.push(rejection);
                    continue;
                }
            };
            let pending_same = pending.iter().position(|p| p.id == place.id);
            let (indexed, duplicate) = self.read_index(|index| {
                (
                    index.get(&place.id).is_some(),
                    Self::duplicate_of(index, &pending, &place),
                )
            })?;
            let duplicate = duplicate.or_else(|| {
                pending
                    .iter()
                    .find_map(|p| Self::alike(&place, p).map(|why| (p.id.clone(), why)))
            });
            let known = indexed || pending_same.is_some();
            // The place this row changes: itself when known or new, the one it duplicates.
            let target = match (known, &duplicate) {
                (false, Some((existing, _))) => existing.clone(),
                _ => place.id.clone(),
            };
            if let Some(principal) = principal {
                let owner = self.owner(&target).await?;
                let exists = known || duplicate.is_some();
                if let Err(why) = Self::check_change(principal, &target, owner.as_deref(), exists) {
                    report.rejected.push(Rejection {
                        line,
                        field: "id".into(),
                        value: place.id.clone(),
                        reason: why.to_string(),
                    });
                    continue;
                }
            }
            report.warnings.extend(warnings);
            let saved = match (known, duplicate) {
                (true, _) => {
                    report.updated += 1;
                    place
                }
                (false, Some((existing_id, why))) => {
                    let existing = match pending.iter().find(|p| p.id == existing_id) {
                        Some(p) => p.clone(),
                        None => self.get(&existing_id)?,
                    };
                    report
                        .merged
                        .push((line, place.id.clone(), existing_id, why));
                    merge(existing, &place)
                }
                (false, None) => {
                    report.imported += 1;
                    if let Some(keeper) = &keeper {
                        batch.push(Mutation::Put(Row::new(
                            OWNERS,
                            &place.id,
                            "",
                            keeper.clone().into_bytes(),
                        )));
                    }
                    place
                }
            };
            // A place this import already wrote to another department leaves it.
            if let Some(earlier) = pending.iter().find(|p| p.id == saved.id)
                && earlier.department() != saved.department()
            {
                batch.push(Mutation::delete(PLACES, earlier.department(), &saved.id));
            }
            batch.extend(self.moved(&saved));
            batch.extend(self.mutations(&saved, principal)?);
            match pending.iter_mut().find(|p| p.id == saved.id) {
                Some(slot) => *slot = saved,
                None => pending.push(saved),
            }
            if pending.len() >= IMPORT_BATCH {
                self.commit_import(std::mem::take(&mut batch), std::mem::take(&mut pending))
                    .await?;
            }
        }
        self.commit_import(batch, pending).await?;
        progress(total, total);
        tracing::info!(
            imported = report.imported,
            updated = report.updated,
            merged = report.merged.len(),
            rejected = report.rejected.len(),
            warnings = report.warnings.len(),
            "places imported"
        );
        Ok(report)
    }

    /// Writes an import's rows, then shows them to searches.
    async fn commit_import(
        &self,
        batch: Vec<Mutation>,
        saved: Vec<Place>,
    ) -> Result<(), ServiceError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.outbox.commit(batch).await?;
        self.write_index(|index| {
            for place in saved {
                index.upsert(place);
            }
        })
    }

    /// Every place in a format.
    pub fn export(&self, format: Format) -> Result<Vec<u8>, ServiceError> {
        self.read_index(|index| {
            let places: Vec<&Place> = index.all().map(|e| &*e.place).collect();
            files::write(format, &places)
        })?
        .map_err(ServiceError::internal)
    }

    /// Applies another replica's change, announced on `passerelle.directory`.
    /// Brings this replica's index in line with a change another replica (or an import)
    /// announced. The store is the truth, written before the event: the place is read back
    /// from it, so a late or replayed event never puts an older version over a newer one.
    pub async fn apply(
        &self,
        envelope: &events::Envelope,
    ) -> passerelle_bus::consume::HandlerResult {
        let (id, department) =
            if let Some(event) = event::payload::<events::PlaceUpserted>(envelope)? {
                let place = files::from_json(&event.place_json).map_err(|e| e.to_string())?;
                (place.id.clone(), place.department())
            } else if let Some(event) = event::payload::<events::PlaceDeleted>(envelope)? {
                let known = self
                    .read_index(|index| index.get(&event.place_id).map(|e| e.department.clone()))
                    .map_err(|e| e.to_string())?;
                let Some(department) = known else {
                    return Ok(());
                };
                (event.place_id, department)
            } else {
                return Ok(());
            };
        // The store out is an outage to wait out, not a bad event.
        let stored = self
            .store
            .get(PLACES, &department, &id)
            .await
            .map_err(|e| passerelle_bus::consume::Failure::Retry(e.to_string()))?;
        match stored {
            Some(bytes) => {
                let place: Place = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                self.write_index(|index| index.upsert(place))
            }
            // Gone from this department: deleted, or moved (its own event says where).
            None => self.write_index(|index| {
                if index.get(&id).is_some_and(|e| e.department == department) {
                    index.remove(&id);
                }
            }),
        }
        .map_err(|e| e.to_string().into())
    }
}

/// The place already here and a duplicate from another source, as one: the more trustworthy
/// record's values first — a postcode that agrees with its INSEE code, then the more recent
/// `date_maj`, then the more complete — its empty fields filled from the other, lists united.
/// The place keeps the id it has here.
pub fn merge(existing: Place, other: &Place) -> Place {
    let rank = |p: &Place| (postcode_agrees(p), p.date_maj.clone(), completeness(p));
    if rank(other) > rank(&existing) {
        // The place keeps its id, and with it the source that id comes from.
        let (id, source) = (existing.id.clone(), existing.source.clone());
        let mut survivor = fill_from(other.clone(), &existing);
        survivor.id = id;
        survivor.source = source;
        survivor
    } else {
        fill_from(existing, other)
    }
}

/// A pivot the schema's rules accept (a SIRET whose check digit is right, an RNA number).
fn valid_pivot(pivot: &str) -> bool {
    !pivot.is_empty() && parse_pivot(pivot).as_deref() == Ok(pivot)
}

/// How many of a place's fields hold something.
fn completeness(place: &Place) -> usize {
    crate::schema::COLUMNS
        .iter()
        .filter(|c| !place.column(c).is_empty())
        .count()
}

/// `existing` with its empty fields filled and its lists completed from `other`.
fn fill_from(mut existing: Place, other: &Place) -> Place {
    let fill = |mine: &mut String, theirs: &String| {
        if mine.is_empty() {
            mine.clone_from(theirs);
        }
    };
    let unite = |mine: &mut Vec<String>, theirs: &Vec<String>| {
        for value in theirs {
            if !mine.contains(value) {
                mine.push(value.clone());
            }
        }
    };
    fill(&mut existing.pivot, &other.pivot);
    // A SIRET kept as written (its check digit wrong) gives way to a valid one.
    if !valid_pivot(&existing.pivot) && valid_pivot(&other.pivot) {
        existing.pivot.clone_from(&other.pivot);
    }
    fill(&mut existing.code_insee, &other.code_insee);
    if existing.latitude.is_none() {
        (existing.latitude, existing.longitude) = (other.latitude, other.longitude);
    }
    fill(&mut existing.complement_adresse, &other.complement_adresse);
    fill(&mut existing.telephone, &other.telephone);
    fill(&mut existing.horaires, &other.horaires);
    fill(
        &mut existing.presentation_resume,
        &other.presentation_resume,
    );
    fill(
        &mut existing.presentation_detail,
        &other.presentation_detail,
    );
    fill(&mut existing.structure_parente, &other.structure_parente);
    fill(
        &mut existing.autres_formations_labels,
        &other.autres_formations_labels,
    );
    fill(&mut existing.fiche_acces_libre, &other.fiche_acces_libre);
    fill(&mut existing.prise_rdv, &other.prise_rdv);
    unite(&mut existing.typologie, &other.typologie);
    unite(&mut existing.courriels, &other.courriels);
    unite(&mut existing.site_web, &other.site_web);
    unite(&mut existing.itinerance, &other.itinerance);
    unite(&mut existing.services, &other.services);
    unite(
        &mut existing.publics_specifiquement_adresses,
        &other.publics_specifiquement_adresses,
    );
    unite(
        &mut existing.prise_en_charge_specifique,
        &other.prise_en_charge_specifique,
    );
    unite(&mut existing.frais_a_charge, &other.frais_a_charge);
    unite(
        &mut existing.dispositif_programmes_nationaux,
        &other.dispositif_programmes_nationaux,
    );
    unite(&mut existing.formations_labels, &other.formations_labels);
    unite(&mut existing.modalites_acces, &other.modalites_acces);
    unite(
        &mut existing.modalites_accompagnement,
        &other.modalites_accompagnement,
    );
    if other.date_maj > existing.date_maj {
        existing.date_maj.clone_from(&other.date_maj);
    }
    existing.x_wifi_public |= other.x_wifi_public;
    existing.x_postes_en_acces_libre = existing
        .x_postes_en_acces_libre
        .max(other.x_postes_en_acces_libre);
    existing
}
