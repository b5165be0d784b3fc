//! What the analytics service takes and gives, in its own types: no protobuf below the gRPC
//! adapter ([`crate::grpc`] converts at the edge, as identity's does), so the rules and their
//! tests do not follow the wire's shapes.

use passerelle_kit::ServiceError;
use serde::{Deserialize, Serialize};

/// A score from 0 to 100 for an area of skills or one task.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    pub id: String,
    pub label: String,
    pub score: f64,
}

/// One survey answer assessed: scores, level, the modules to learn.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    pub respondent_id: String,
    pub surveyed_on: String,
    pub score: f64,
    pub level: u8,
    pub level_label: String,
    pub areas: Vec<Score>,
    pub tasks: Vec<Score>,
    pub modules: Vec<String>,
    pub rules_version: String,
}

/// The languages pathways are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Fr,
    En,
}

impl Language {
    /// `fr` (also for empty) or `en`.
    pub fn parse(raw: &str) -> Result<Self, ServiceError> {
        match raw.trim() {
            "" | "fr" => Ok(Self::Fr),
            "en" => Ok(Self::En),
            other => Err(ServiceError::invalid(format!(
                "language `{other}` is not offered: expected fr or en"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fr => "fr",
            Self::En => "en",
        }
    }
}

/// What an advisor asks for when assigning a pathway, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    /// The person's account id.
    pub beneficiary_id: String,
    /// Their survey's pseudonym.
    pub respondent_id: String,
    pub language: Language,
    /// Where to look for places (latitude, longitude); none: the survey antenna's.
    pub point: Option<(f64, f64)>,
}

impl Assignment {
    /// Checks a request's values: both ids given, a language offered, and both coordinates in
    /// range or neither.
    pub fn parse(
        beneficiary_id: &str,
        respondent_id: &str,
        language: &str,
        latitude: Option<f64>,
        longitude: Option<f64>,
    ) -> Result<Self, ServiceError> {
        let required = |name: &str, value: &str, what: &str| {
            let value = value.trim();
            if value.is_empty() {
                Err(ServiceError::invalid(format!("{name} is required: {what}")))
            } else {
                Ok(value.to_owned())
            }
        };
        let point = match (latitude, longitude) {
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                Some((lat, lon))
            }
            (Some(_), Some(_)) => {
                return Err(ServiceError::invalid(
                    "latitude goes from -90 to 90 and longitude from -180 to 180",
                ));
            }
            (None, None) => None,
            _ => {
                return Err(ServiceError::invalid(
                    "give both latitude and longitude, or neither",
                ));
            }
        };
        Ok(Self {
            beneficiary_id: required("beneficiary_id", beneficiary_id, "the person's account id")?,
            respondent_id: required(
                "respondent_id",
                respondent_id,
                "the pseudonym of their survey",
            )?,
            language: Language::parse(language)?,
            point,
        })
    }
}

/// A place from the directory suggested for a step (kept with the pathway as it was then).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaceSuggestion {
    pub place_id: String,
    pub name: String,
    pub address: String,
    pub distance_m: f64,
    pub phone: String,
    pub booking: String,
}

/// A module of a pathway, in the person's language, with its places.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub module_id: String,
    pub title: String,
    pub places: Vec<PlaceSuggestion>,
    /// When the step was marked done (Unix seconds).
    pub done_at: Option<i64>,
}

/// A pathway as people read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Pathway {
    pub id: String,
    pub beneficiary_id: String,
    pub respondent_id: String,
    pub rules_version: String,
    /// The baseline survey, assessed.
    pub baseline: Option<Assessment>,
    pub steps: Vec<Step>,
    pub first_step: String,
    pub assigned_at: i64,
    pub assigned_by: String,
    /// Why places are missing, when they are.
    pub places_note: String,
}

/// An area's score at the baseline and now.
#[derive(Clone, Debug, PartialEq)]
pub struct AreaProgress {
    pub id: String,
    pub label: String,
    pub before: f64,
    pub after: f64,
}

/// A pathway's progress: the latest survey against the baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub pathway_id: String,
    pub level_gain: i32,
    pub score_gain: f64,
    pub areas: Vec<AreaProgress>,
    pub steps_done: usize,
    pub steps_total: usize,
    pub baseline: Assessment,
    pub latest: Assessment,
}

/// One table of a dashboard, as CSV.
#[derive(Clone, Debug, PartialEq)]
pub struct DashboardTable {
    pub name: String,
    pub csv: Vec<u8>,
    pub rows: usize,
}

/// The managers' dashboard for a period.
#[derive(Clone, Debug, PartialEq)]
pub struct Dashboard {
    pub tables: Vec<DashboardTable>,
    pub respondents: u32,
    pub answers: usize,
    pub min_cell_size: u32,
    pub rules_version: String,
}

impl Progress {
    /// The latest assessment against the baseline: level and score gained, area by area (the
    /// areas of both, in the rules' order), and the steps done.
    pub fn between(
        pathway_id: &str,
        baseline: Assessment,
        latest: Assessment,
        steps_done: usize,
        steps_total: usize,
    ) -> Self {
        let areas = baseline
            .areas
            .iter()
            .zip(&latest.areas)
            .map(|(before, after)| AreaProgress {
                id: before.id.clone(),
                label: before.label.clone(),
                before: before.score,
                after: after.score,
            })
            .collect();
        Self {
            pathway_id: pathway_id.to_owned(),
            level_gain: i32::from(latest.level) - i32::from(baseline.level),
            score_gain: ((latest.score - baseline.score) * 10.0).round() / 10.0,
            areas,
            steps_done,
            steps_total,
            baseline,
            latest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_is_checked_at_the_edge() {
        let ok = Assignment::parse(" person-1 ", "R-1", "", None, None).unwrap();
        assert_eq!(
            (ok.beneficiary_id.as_str(), ok.language, ok.point),
            ("person-1", Language::Fr, None)
        );
        let at = Assignment::parse("p", "r", "en", Some(49.9), Some(2.3)).unwrap();
        assert_eq!((at.language, at.point), (Language::En, Some((49.9, 2.3))));
        for (beneficiary, respondent, language, lat, lon, says) in [
            ("", "r", "fr", None, None, "beneficiary_id is required"),
            ("p", " ", "fr", None, None, "respondent_id is required"),
            ("p", "r", "de", None, None, "language `de` is not offered"),
            (
                "p",
                "r",
                "fr",
                Some(49.9),
                None,
                "both latitude and longitude",
            ),
            (
                "p",
                "r",
                "fr",
                Some(91.0),
                Some(2.0),
                "latitude goes from -90 to 90",
            ),
            (
                "p",
                "r",
                "fr",
                Some(49.0),
                Some(-181.0),
                "longitude from -180 to 180",
            ),
        ] {
            let refused = Assignment::parse(beneficiary, respondent, language, lat, lon)
                .unwrap_err()
                .to_string();
            assert!(refused.contains(says), "{refused}");
        }
    }

    fn assessed(level: u8, score: f64, areas: &[f64]) -> Assessment {
        Assessment {
            respondent_id: "R".into(),
            surveyed_on: "2026-09-01".into(),
            score,
            level,
            level_label: String::new(),
            areas: areas
                .iter()
                .enumerate()
                .map(|(i, s)| Score {
                    id: format!("area-{i}"),
                    label: format!("Area {i}"),
                    score: *s,
                })
                .collect(),
            tasks: Vec::new(),
            modules: Vec::new(),
            rules_version: "1".into(),
        }
    }

    #[test]
    fn progress_is_the_latest_survey_against_the_baseline() {
        let progress = Progress::between(
            "pw",
            assessed(1, 25.04, &[10.0, 40.0]),
            assessed(3, 61.33, &[55.0, 40.0]),
            2,
            5,
        );
        assert_eq!(progress.level_gain, 2);
        assert_eq!(progress.score_gain, 36.3);
        assert_eq!(
            progress
                .areas
                .iter()
                .map(|a| (a.id.as_str(), a.before, a.after))
                .collect::<Vec<_>>(),
            [("area-0", 10.0, 55.0), ("area-1", 40.0, 40.0)]
        );
        let backwards =
            Progress::between("pw", assessed(3, 60.0, &[]), assessed(2, 50.0, &[]), 0, 1);
        assert_eq!((backwards.level_gain, backwards.score_gain), (-1, -10.0));
    }
}
