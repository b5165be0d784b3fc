//! The directory's operations: search, edits, imports with de-duplication, exports.

use std::sync::{Arc, RwLock};

use passerelle_bus::event;
use passerelle_bus::outbox::{self, OutboxRelay};
use passerelle_kit::ServiceError;
use passerelle_kit::auth::{Principal, Role};
use passerelle_proto::events::v1 as events;
use passerelle_store::{DynStore, Mutation, Row};

use crate::files::{self, Format, ParsedRow};
use crate::index::{Hit, Index, Query};
use crate::schema::{Place, Rejection, match_key};

pub const PRODUCER: &str = "directory";
const PLACES: &str = "places";
const DEPARTMENTS: &str = "place_departments";
/// Places closer than this with alike names are the same place.
const DUPLICATE_RADIUS_M: f64 = 150.0;
/// Jaro-Winkler similarity of normalised names above which two nearby places are one.
const DUPLICATE_NAME_SIMILARITY: f64 = 0.88;
/// Places written per store batch during an import.
const IMPORT_BATCH: usize = 500;

fn unavailable(e: passerelle_store::Error) -> ServiceError {
    ServiceError::Unavailable(format!("the store did not answer: {e}"))
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportReport {
    pub imported: usize,
    pub updated: usize,
    /// `(line, imported id, existing id, why)`.
    pub merged: Vec<(usize, String, String, String)>,
    pub rejected: Vec<Rejection>,
}

#[derive(Clone)]
pub struct Directory {
    store: DynStore,
    // std RwLock: searches hold it briefly and never across an await.
    index: Arc<RwLock<Index>>,
    relay: OutboxRelay,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").finish_non_exhaustive()
    }
}

impl Directory {
    /// Loads every place from the store into the search index.
    pub async fn load(store: DynStore, relay: OutboxRelay) -> Result<Self, ServiceError> {
        let mut places = Vec::new();
        for (department, _) in store
            .scan_all(DEPARTMENTS, "all")
            .await
            .map_err(unavailable)?
        {
            for (_, bytes) in store
                .scan_all(PLACES, &department)
                .await
                .map_err(unavailable)?
            {
                places.push(serde_json::from_slice::<Place>(&bytes).map_err(internal)?);
            }
        }
        tracing::info!(places = places.len(), "directory loaded");
        Ok(Self {
            store,
            index: Arc::new(RwLock::new(Index::build(places))),
            relay,
        })
    }

    fn read_index<T>(&self, f: impl FnOnce(&Index) -> T) -> Result<T, ServiceError> {
        self.index
            .read()
            .map(|index| f(&index))
            .map_err(|_| internal("directory index poisoned"))
    }

    fn write_index(&self, f: impl FnOnce(&mut Index)) -> Result<(), ServiceError> {
        self.index
            .write()
            .map(|mut index| f(&mut index))
            .map_err(|_| internal("directory index poisoned"))
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

    fn mutations(place: &Place) -> Vec<Mutation> {
        let department = place.department();
        let json = files::to_json(place);
        let (envelope, record) = event::new_record(
            PRODUCER,
            "passerelle.events.v1.PlaceUpserted",
            &place.id,
            &events::PlaceUpserted {
                place_id: place.id.clone(),
                place_json: json,
            },
        );
        vec![
            Mutation::Put(Row::new(
                PLACES,
                &department,
                &place.id,
                serde_json::to_vec(place).unwrap_or_default(),
            )),
            Mutation::Put(Row::new(DEPARTMENTS, "all", &department, Vec::new())),
            outbox::mutation(PRODUCER, &envelope.event_id, &record),
        ]
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
        let mut batch = Self::mutations(&place);
        batch.extend(self.moved(&place));
        self.store.batch(batch).await.map_err(unavailable)?;
        self.relay.notify();
        self.write_index(|index| index.upsert(place.clone()))?;
        tracing::info!(place_id = %place.id, by = %principal.subject, "place saved");
        Ok(place)
    }

    pub async fn delete(&self, principal: &Principal, id: &str) -> Result<(), ServiceError> {
        principal.require_any(&[Role::Manager, Role::Admin])?;
        let place = self.get(id)?;
        let (envelope, record) = event::new_record(
            PRODUCER,
            "passerelle.events.v1.PlaceDeleted",
            id,
            &events::PlaceDeleted {
                place_id: id.to_owned(),
            },
        );
        self.store
            .batch(vec![
                Mutation::delete(PLACES, place.department(), id),
                outbox::mutation(PRODUCER, &envelope.event_id, &record),
            ])
            .await
            .map_err(unavailable)?;
        self.relay.notify();
        self.write_index(|index| {
            index.remove(id);
        })?;
        Ok(())
    }

    /// A place already here that `place` duplicates: nearby with an alike name, or the same
    /// SIRET at the same address.
    fn duplicate_of(index: &Index, place: &Place) -> Option<(String, String)> {
        let (lat, lon) = (place.latitude?, place.longitude?);
        let name = match_key(&place.nom);
        let address = match_key(&place.adresse);
        index
            .within(lat, lon, DUPLICATE_RADIUS_M)
            .into_iter()
            .find_map(|other| {
                let o = &other.place;
                if o.id == place.id {
                    return None;
                }
                let distance = crate::geo::distance_m(
                    lat,
                    lon,
                    o.latitude.unwrap_or(lat),
                    o.longitude.unwrap_or(lon),
                );
                let similarity = strsim::jaro_winkler(&name, &match_key(&o.nom));
                if similarity >= DUPLICATE_NAME_SIMILARITY {
                    return Some((
                        o.id.clone(),
                        format!(
                            "{distance:.0} m away, names {:.0}% alike",
                            similarity * 100.0
                        ),
                    ));
                }
                let same_siret = !place.pivot.is_empty()
                    && place.pivot != "00000000000000"
                    && place.pivot == o.pivot;
                (same_siret && address == match_key(&o.adresse)).then(|| {
                    (
                        o.id.clone(),
                        format!("same SIRET {} at the same address", place.pivot),
                    )
                })
            })
    }

    /// Imports parsed rows: new places added, known ids updated, duplicates merged into the
    /// place already here (never silently), bad rows reported. `progress` gets (done, total).
    pub async fn import(
        &self,
        principal: Option<&Principal>,
        rows: Vec<ParsedRow>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<ImportReport, ServiceError> {
        if let Some(principal) = principal {
            Self::may_edit(principal)?;
        }
        let total = rows.len();
        let mut report = ImportReport::default();
        let mut batch = Vec::new();
        for (done, (line, row)) in rows.into_iter().enumerate() {
            let place = match row {
                Ok(place) => place,
                Err(rejection) => {
                    report.rejected.push(rejection);
                    progress(done + 1, total);
                    continue;
                }
            };
            let (known, duplicate) = self.read_index(|index| {
                (
                    index.get(&place.id).is_some(),
                    Self::duplicate_of(index, &place),
                )
            })?;
            let saved = match (known, duplicate) {
                (true, _) => {
                    report.updated += 1;
                    place
                }
                (false, Some((existing_id, why))) => {
                    let existing = self.get(&existing_id)?;
                    report
                        .merged
                        .push((line, place.id.clone(), existing_id, why));
                    merge(existing, &place)
                }
                (false, None) => {
                    report.imported += 1;
                    place
                }
            };
            batch.extend(self.moved(&saved));
            batch.extend(Self::mutations(&saved));
            // Later rows of the same file see this one (duplicates within a file merge too).
            self.write_index(|index| index.upsert(saved))?;
            if batch.len() >= IMPORT_BATCH * 3 {
                self.store
                    .batch(std::mem::take(&mut batch))
                    .await
                    .map_err(unavailable)?;
                self.relay.notify();
            }
            progress(done + 1, total);
        }
        if !batch.is_empty() {
            self.store.batch(batch).await.map_err(unavailable)?;
            self.relay.notify();
        }
        tracing::info!(
            imported = report.imported,
            updated = report.updated,
            merged = report.merged.len(),
            rejected = report.rejected.len(),
            "places imported"
        );
        Ok(report)
    }

    /// Every place in a format.
    pub fn export(&self, format: Format) -> Result<Vec<u8>, ServiceError> {
        self.read_index(|index| {
            let places: Vec<&Place> = index.all().map(|e| &*e.place).collect();
            files::write(format, &places)
        })?
        .map_err(internal)
    }

    /// Applies another replica's change, announced on `passerelle.directory`.
    /// Brings this replica's index in line with a change another replica (or an import)
    /// announced. The store is the truth, written before the event: the place is read back
    /// from it, so a late or replayed event never puts an older version over a newer one.
    pub async fn apply(
        &self,
        envelope: &events::Envelope,
    ) -> passerelle_bus::consume::HandlerResult {
        use prost::Message;
        let (id, department) = match envelope.event_type.as_str() {
            "passerelle.events.v1.PlaceUpserted" => {
                let event = events::PlaceUpserted::decode(envelope.payload.as_slice())
                    .map_err(|e| e.to_string())?;
                let place = files::from_json(&event.place_json)?;
                (place.id.clone(), place.department())
            }
            "passerelle.events.v1.PlaceDeleted" => {
                let event = events::PlaceDeleted::decode(envelope.payload.as_slice())
                    .map_err(|e| e.to_string())?;
                let known = self
                    .read_index(|index| index.get(&event.place_id).map(|e| e.department.clone()))
                    .map_err(|e| e.to_string())?;
                let Some(department) = known else {
                    return Ok(());
                };
                (event.place_id, department)
            }
            _ => return Ok(()),
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

/// The place already here, completed by a duplicate from another source: empty fields filled,
/// lists united, the later update date kept.
pub fn merge(mut existing: Place, other: &Place) -> Place {
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
    fill(&mut existing.code_insee, &other.code_insee);
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
