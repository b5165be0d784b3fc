//! Nearest-10 searches over 100,000 places through gRPC (R-tree), side by side with the same
//! queries answered by a linear scan over every place, as ratios, with p50/p99 latency.
//!
//! Places are clustered around 60 towns (as real places are) with a uniform background over
//! metropolitan France; queries are made near the towns, where people search from.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use passerelle_benchkit::{compare, measure, section};
use passerelle_bus::sqlite::SqliteBus;
use passerelle_directory::DirectoryConfig;
use passerelle_directory::index::Query;
use passerelle_directory::schema::{Parsed, Place};
use passerelle_kit::CancellationToken;
use passerelle_kit::clock::SystemClock;
use passerelle_kit::config::ServerArgs;
use passerelle_proto::directory::v1 as pb;
use passerelle_proto::directory::v1::directory_client::DirectoryClient;
use passerelle_store::sqlite::SqliteStore;

const PLACES: usize = 100_000;
const TOWNS: usize = 60;

/// xorshift64*: reproducible and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn pick<'a>(&mut self, values: &[&'a str]) -> &'a str {
        values[(self.next() % values.len() as u64) as usize]
    }

    /// Roughly normal (sum of uniforms), standard deviation ≈ 1.
    fn gauss(&mut self) -> f64 {
        (0..6).map(|_| self.unit()).sum::<f64>() - 3.0
    }
}

const SERVICES: [&str; 5] = [
    "Aide aux démarches administratives",
    "Maîtrise des outils numériques du quotidien",
    "Accès internet et matériel informatique",
    "Insertion professionnelle via le numérique",
    "Utilisation sécurisée du numérique",
];
const SUPPORT: [&str; 3] = ["Surdité", "Illettrisme", "Langues étrangères (autres)"];
const HOURS: [&str; 4] = [
    "Mo-Fr 09:00-12:00,14:00-17:30",
    "Tu-Sa 10:00-18:00; PH off",
    "Mo,We,Fr 13:30-17:00",
    "24/7",
];

fn towns(rng: &mut Rng) -> Vec<(f64, f64)> {
    (0..TOWNS)
        .map(|_| (rng.range(43.3, 50.8), rng.range(-1.5, 7.2)))
        .collect()
}

fn places(rng: &mut Rng, towns: &[(f64, f64)]) -> Vec<Place> {
    (0..PLACES)
        .map(|i| {
            let (lat, lon) = if i % 5 < 3 {
                let (lat, lon) = towns[i % TOWNS];
                (lat + 0.12 * rng.gauss(), lon + 0.17 * rng.gauss())
            } else {
                (rng.range(42.5, 51.0), rng.range(-4.5, 8.0))
            };
            let mut services = vec![rng.pick(&SERVICES).to_owned()];
            if rng.unit() < 0.5 {
                services.push(SERVICES[0].to_owned());
                services.dedup();
            }
            Place {
                id: format!("bench-{i:06}"),
                nom: format!("Lieu {i:06} {:x}", rng.next()),
                commune: "Commune".into(),
                code_postal: "80000".into(),
                code_insee: "80021".into(),
                adresse: format!("{} rue du Test", i % 200 + 1),
                latitude: Some(lat),
                longitude: Some(lon),
                horaires: rng.pick(&HOURS).to_owned(),
                source: "bench".into(),
                date_maj: "2026-11-01".into(),
                services,
                prise_en_charge_specifique: if rng.unit() < 0.3 {
                    vec![rng.pick(&SUPPORT).to_owned()]
                } else {
                    Vec::new()
                },
                frais_a_charge: vec!["Gratuit".into()],
                x_wifi_public: rng.unit() < 0.4,
                ..Place::default()
            }
        })
        .collect()
}

/// A query point near a town.
fn near_town(towns: &[(f64, f64)], i: u64) -> (f64, f64) {
    let mut rng = Rng(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (lat, lon) = towns[(rng.next() % towns.len() as u64) as usize];
    (lat + 0.1 * rng.gauss(), lon + 0.14 * rng.gauss())
}

/// Tuesday 2026-11-24 15:00 in Paris.
const OPEN_AT: i64 = 1_795_528_800;

fn query(filtered: bool, (lat, lon): (f64, f64)) -> Query {
    let mut query = Query {
        lat,
        lon,
        radius_m: 10_000.0,
        limit: 10,
        ..Query::default()
    };
    if filtered {
        query.radius_m = 50_000.0;
        query.services = vec![SERVICES[0].into()];
        query.support = vec!["Surdité".into()];
        query.open_at = Some(OPEN_AT);
    }
    query
}

fn request(filtered: bool, (lat, lon): (f64, f64)) -> pb::SearchPlacesRequest {
    let mut request = pb::SearchPlacesRequest {
        latitude: lat,
        longitude: lon,
        page_size: 10,
        ..Default::default()
    };
    if filtered {
        request.radius_m = 50_000.0;
        request.services = vec![SERVICES[0].into()];
        request.support = vec!["Surdité".into()];
        request.open_at = Some(passerelle_proto::prost_types::Timestamp {
            seconds: OPEN_AT,
            nanos: 0,
        });
    }
    request
}

fn main() {
    passerelle_benchkit::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let shutdown = CancellationToken::new();
        let config = DirectoryConfig {
            base: passerelle_kit::base::ServiceBase {
                store: Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap()),
                bus: Arc::new(SqliteBus::open(&dir.path().join("bus.db"), 2).unwrap()),
                server: ServerArgs::default(),
                verifier: None,
                clock: Arc::new(SystemClock),
            },
            replica: "bench".into(),
        };
        let running = passerelle_directory::start(config, shutdown.clone())
            .await
            .unwrap();
        let service = running.service.clone();

        let mut rng = Rng(0x5eed_cafe);
        let towns = Arc::new(towns(&mut rng));
        let rows = places(&mut rng, &towns)
            .into_iter()
            .enumerate()
            .map(|(i, place)| {
                let parsed = Parsed {
                    place,
                    warnings: Vec::new(),
                };
                (i + 2, Ok(parsed))
            })
            .collect();
        let started = std::time::Instant::now();
        let report = service.import(None, rows, |_, _| {}).await.unwrap();
        println!(
            "\n{} places in the index ({} imported, {} merged as duplicates) in {:.1} s",
            service.len(),
            report.imported,
            report.merged.len(),
            started.elapsed().as_secs_f64()
        );

        // Both answers agree before anything is timed.
        for i in 0..200 {
            for filtered in [false, true] {
                let q = query(filtered, near_town(&towns, i));
                let ids = |hits: Vec<passerelle_directory::index::Hit>| {
                    hits.into_iter()
                        .map(|h| h.entry.place.id.clone())
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    ids(service.search(&q).unwrap()),
                    ids(service.scan(&q).unwrap())
                );
            }
        }

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(running.serve(listener, shutdown.clone()));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();

        for (filtered, title) in [
            (false, "nearest 10 within 10 km"),
            (
                true,
                "nearest 10 within 50 km offering administrative help with deafness support, open on Tuesday 15:00",
            ),
        ] {
            section(&format!("directory: {title}, {PLACES} places"));
            for concurrency in [1, 4] {
                let (svc, t) = (service.clone(), towns.clone());
                let scan = measure(
                    &format!("linear scan, in process, {concurrency} in flight"),
                    concurrency,
                    move |i| {
                        let (svc, t) = (svc.clone(), t.clone());
                        async move {
                            let svc2 = svc.clone();
                            tokio::task::spawn_blocking(move || {
                                std::hint::black_box(
                                    svc2.scan(&query(filtered, near_town(&t, i))).unwrap(),
                                );
                            })
                            .await
                            .unwrap();
                        }
                    },
                )
                .await;
                let (svc, t) = (service.clone(), towns.clone());
                let tree = measure(
                    &format!("R-tree, in process, {concurrency} in flight"),
                    concurrency,
                    move |i| {
                        let (svc, t) = (svc.clone(), t.clone());
                        async move {
                            std::hint::black_box(
                                svc.search(&query(filtered, near_town(&t, i))).unwrap(),
                            );
                        }
                    },
                )
                .await;
                let (channel, t) = (channel.clone(), towns.clone());
                let grpc = measure(
                    &format!("R-tree through gRPC, {concurrency} in flight"),
                    concurrency,
                    move |i| {
                        let mut client = DirectoryClient::new(channel.clone());
                        let request = request(filtered, near_town(&t, i));
                        async move {
                            let hits = client.search_places(request).await.unwrap();
                            std::hint::black_box(hits);
                        }
                    },
                )
                .await;
                compare("index vs scan", &scan, &tree);
                compare("gRPC search vs in-process scan", &scan, &grpc);
            }
        }
        shutdown.cancel();
    });
}
