//! The in-memory search index: an R*-tree of places on the sphere (see [`crate::geo`]), with
//! each place's parsed opening hours, rebuilt from the store at start and kept current by the
//! service and by `passerelle.directory` events.

use std::collections::HashMap;
use std::sync::Arc;

use opening_hours::OpeningHours;
use rstar::RTree;
use rstar::primitives::GeomWithData;

use crate::geo;
use crate::hours;
use crate::schema::Place;

type Point = GeomWithData<[f64; 3], String>;

/// A place with what search needs of it.
#[derive(Clone)]
pub struct Entry {
    pub place: Arc<Place>,
    pub department: String,
    hours: Option<OpeningHours>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("id", &self.place.id).finish()
    }
}

impl Entry {
    pub fn new(place: Place) -> Self {
        let hours = (!place.horaires.is_empty())
            .then(|| hours::parse(&place.horaires).ok())
            .flatten();
        Self {
            department: place.department(),
            place: Arc::new(place),
            hours,
        }
    }

    fn point(&self) -> Option<Point> {
        match (self.place.latitude, self.place.longitude) {
            (Some(lat), Some(lon)) => Some(GeomWithData::new(
                geo::to_point(lat, lon),
                self.place.id.clone(),
            )),
            _ => None,
        }
    }

    /// Open at `unix` seconds, in the place's local time? Unknown hours are not known open.
    pub fn is_open_at(&self, unix: i64) -> bool {
        self.hours
            .as_ref()
            .is_some_and(|h| hours::is_open(h, &self.department, unix))
    }
}

/// What to look for.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
    /// The place offers every one of these.
    pub services: Vec<String>,
    pub publics: Vec<String>,
    pub support: Vec<String>,
    /// The place's fees include one of these.
    pub fees: Vec<String>,
    /// Open at this instant (Unix seconds).
    pub open_at: Option<i64>,
    pub wifi: bool,
    pub offset: usize,
    pub limit: usize,
}

impl Query {
    fn matches(&self, entry: &Entry) -> bool {
        let p = &entry.place;
        let all = |wanted: &[String], have: &[String]| wanted.iter().all(|w| have.contains(w));
        all(&self.services, &p.services)
            && all(&self.publics, &p.publics_specifiquement_adresses)
            && all(&self.support, &p.prise_en_charge_specifique)
            && (self.fees.is_empty() || self.fees.iter().any(|f| p.frais_a_charge.contains(f)))
            && (!self.wifi || p.x_wifi_public)
            && self.open_at.is_none_or(|t| entry.is_open_at(t))
    }
}

/// A search result.
#[derive(Clone, Debug)]
pub struct Hit {
    pub entry: Entry,
    pub distance_m: f64,
}

#[derive(Default)]
pub struct Index {
    tree: RTree<Point>,
    entries: HashMap<String, Entry>,
    /// Place ids by pivot (SIRET or RNA), for de-duplication beyond the neighbourhood.
    by_pivot: HashMap<String, Vec<String>>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("places", &self.entries.len())
            .finish()
    }
}

impl Index {
    /// Builds the index in one go (bulk loading packs the tree better than inserts).
    pub fn build(places: Vec<Place>) -> Self {
        let entries: HashMap<String, Entry> = places
            .into_iter()
            .map(|p| (p.id.clone(), Entry::new(p)))
            .collect();
        let tree = RTree::bulk_load(entries.values().filter_map(Entry::point).collect());
        let mut by_pivot: HashMap<String, Vec<String>> = HashMap::new();
        for entry in entries.values().filter(|e| !e.place.pivot.is_empty()) {
            by_pivot
                .entry(entry.place.pivot.clone())
                .or_default()
                .push(entry.place.id.clone());
        }
        Self {
            tree,
            entries,
            by_pivot,
        }
    }

    /// The places carrying `pivot` (none for an empty one).
    pub fn with_pivot(&self, pivot: &str) -> Vec<&Entry> {
        self.by_pivot
            .get(pivot)
            .into_iter()
            .flatten()
            .filter_map(|id| self.entries.get(id))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn upsert(&mut self, place: Place) {
        self.remove(&place.id);
        let entry = Entry::new(place);
        if let Some(point) = entry.point() {
            self.tree.insert(point);
        }
        if !entry.place.pivot.is_empty() {
            self.by_pivot
                .entry(entry.place.pivot.clone())
                .or_default()
                .push(entry.place.id.clone());
        }
        self.entries.insert(entry.place.id.clone(), entry);
    }

    pub fn remove(&mut self, id: &str) -> Option<Entry> {
        let old = self.entries.remove(id)?;
        if let Some(point) = old.point() {
            self.tree.remove(&point);
        }
        if let Some(ids) = self.by_pivot.get_mut(&old.place.pivot) {
            ids.retain(|other| other != id);
            if ids.is_empty() {
                self.by_pivot.remove(&old.place.pivot);
            }
        }
        Some(old)
    }

    /// Places within `radius_m` of `(lat, lon)`, nearest first (for de-duplication).
    pub fn within(&self, lat: f64, lon: f64, radius_m: f64) -> Vec<&Entry> {
        let chord = geo::chord_of(radius_m);
        self.tree
            .locate_within_distance(geo::to_point(lat, lon), chord * chord)
            .filter_map(|p| self.entries.get(&p.data))
            .collect()
    }

    /// The nearest places matching `query`, walking the tree outwards from the point.
    pub fn search(&self, query: &Query) -> Vec<Hit> {
        let max = geo::chord_of(query.radius_m).powi(2);
        let mut hits = Vec::with_capacity(query.limit);
        let mut skipped = 0;
        for (point, distance_2) in self
            .tree
            .nearest_neighbor_iter_with_distance_2(geo::to_point(query.lat, query.lon))
        {
            if distance_2 > max || hits.len() >= query.limit {
                break;
            }
            let Some(entry) = self.entries.get(&point.data) else {
                continue;
            };
            if !query.matches(entry) {
                continue;
            }
            if skipped < query.offset {
                skipped += 1;
                continue;
            }
            hits.push(self.hit(entry, query));
        }
        hits
    }

    /// The same answer by looking at every place: the baseline search is measured against,
    /// and what tests check it with.
    pub fn scan(&self, query: &Query) -> Vec<Hit> {
        // Distance first (cheap), filters on what is within reach, clones only the answers.
        let mut near: Vec<(f64, &Entry)> = self
            .entries
            .values()
            .filter_map(|e| {
                let (lat, lon) = (e.place.latitude?, e.place.longitude?);
                let d = geo::distance_m(query.lat, query.lon, lat, lon);
                (d <= query.radius_m && query.matches(e)).then_some((d, e))
            })
            .collect();
        near.sort_by(|a, b| a.0.total_cmp(&b.0));
        near.into_iter()
            .skip(query.offset)
            .take(query.limit)
            .map(|(distance_m, entry)| Hit {
                entry: entry.clone(),
                distance_m,
            })
            .collect()
    }

    fn hit(&self, entry: &Entry, query: &Query) -> Hit {
        let (lat, lon) = (
            entry.place.latitude.unwrap_or_default(),
            entry.place.longitude.unwrap_or_default(),
        );
        Hit {
            entry: entry.clone(),
            distance_m: geo::distance_m(query.lat, query.lon, lat, lon),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(id: &str, lat: f64, lon: f64, services: &[&str]) -> Place {
        Place {
            id: id.into(),
            nom: id.into(),
            code_postal: "80000".into(),
            latitude: Some(lat),
            longitude: Some(lon),
            services: services.iter().map(|s| (*s).to_owned()).collect(),
            horaires: "Mo-Fr 09:00-17:00".into(),
            ..Place::default()
        }
    }

    #[test]
    fn the_tree_agrees_with_a_full_scan() {
        let mut places = Vec::new();
        for i in 0..2_000 {
            let (lat, lon) = (49.0 + (i % 50) as f64 * 0.02, 1.5 + (i / 50) as f64 * 0.03);
            let services: &[&str] = if i % 3 == 0 {
                &["Accès internet et matériel informatique"]
            } else {
                &["Aide aux démarches administratives"]
            };
            places.push(place(&format!("p{i}"), lat, lon, services));
        }
        let mut index = Index::build(places);
        let mut query = Query {
            lat: 49.8942,
            lon: 2.2957,
            radius_m: 50_000.0,
            limit: 10,
            ..Query::default()
        };
        let ids = |hits: Vec<Hit>| {
            hits.iter()
                .map(|h| h.entry.place.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(index.search(&query)), ids(index.scan(&query)));
        query.services = vec!["Accès internet et matériel informatique".into()];
        query.offset = 10;
        assert_eq!(ids(index.search(&query)), ids(index.scan(&query)));
        // Monday 2026-11-23 10:00 in Amiens is 09:00 UTC: open; 20:00 local is closed.
        query.open_at = Some(1_795_424_400);
        assert_eq!(index.search(&query).len(), 10);
        query.open_at = Some(1_795_424_400 + 10 * 3600);
        assert!(index.search(&query).is_empty());

        let nearest = index.search(&Query {
            lat: 49.0,
            lon: 1.5,
            radius_m: 10.0,
            limit: 5,
            ..Query::default()
        });
        assert_eq!(ids(nearest), ["p0"]);
        index.remove("p0");
        assert!(
            index
                .search(&Query {
                    lat: 49.0,
                    lon: 1.5,
                    radius_m: 10.0,
                    limit: 5,
                    ..Query::default()
                })
                .is_empty()
        );
        index.upsert(place(
            "p0",
            49.0,
            1.5,
            &["Aide aux démarches administratives"],
        ));
        assert_eq!(index.within(49.0, 1.5, 100.0).len(), 1);
    }
}
