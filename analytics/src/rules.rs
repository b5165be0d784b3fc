//! The autonomy rules: a versioned data file (`rules/pathways.toml`), checked when loaded.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use crate::survey::{AGE_BANDS, ANSWERS, ANTENNAS, TASKS};

/// The rules shipped with Passerelle; a city may give its own file instead.
pub const DEFAULT_RULES: &str = include_str!("../rules/pathways.toml");

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub version: String,
    pub max_points: u32,
    pub min_cell_size: u32,
    /// Points per answer (`cannot`, `with_help`, `alone`).
    pub points: BTreeMap<String, u32>,
    pub areas: Vec<Area>,
    pub levels: Vec<Level>,
    pub modules: Vec<Module>,
    /// Publics of the national schema a person of each age band belongs to: places that
    /// address them come first among a step's places.
    #[serde(default)]
    pub publics: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub antennas: BTreeMap<String, Location>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Area {
    pub id: String,
    pub label_fr: String,
    pub label_en: String,
    pub tasks: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub level: u8,
    pub min_score: f64,
    pub label_fr: String,
    pub label_en: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Module {
    pub id: String,
    pub title_fr: String,
    pub title_en: String,
    /// In the pathway when one of these tasks is answered below `alone`.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// In the pathway when the person's level is at most this.
    #[serde(default)]
    pub up_to_level: Option<u8>,
    /// In the pathway when the person has neither a smartphone nor a computer.
    #[serde(default)]
    pub no_device: bool,
    /// Services (national schema) a place must offer, one of them, to be recommended.
    pub services: Vec<String>,
    pub first_step_fr: String,
    pub first_step_en: String,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

impl Rules {
    /// The rules shipped with Passerelle.
    pub fn default_rules() -> Self {
        // Checked by the tests; a broken default is a build defect.
        #[allow(clippy::expect_used)]
        Self::parse(DEFAULT_RULES).expect("the default rules are valid")
    }

    /// Reads and checks a rules file; errors say what is wrong and what is accepted.
    pub fn parse(text: &str) -> Result<Self, crate::error::Error> {
        let rules: Rules =
            toml::from_str(text).map_err(|e| crate::error::Error::RulesSyntax(e.to_string()))?;
        match rules.first_problem() {
            Some(problem) => Err(crate::error::Error::Rules(problem)),
            None => Ok(rules),
        }
    }

    /// The first rule that cannot hold, said with what is accepted.
    fn first_problem(&self) -> Option<String> {
        let tasks: HashSet<&str> = TASKS.iter().copied().collect();
        if self.version.trim().is_empty() {
            return Some("rules: `version` is empty: give the version of this file".into());
        }
        for answer in ANSWERS {
            match self.points.get(*answer) {
                Some(p) if *p <= self.max_points => {}
                Some(p) => {
                    return Some(format!(
                        "rules: points.{answer} = {p} is above max_points = {}",
                        self.max_points
                    ));
                }
                None => {
                    return Some(format!(
                        "rules: points.{answer} is missing: give points for {}",
                        ANSWERS.join(", ")
                    ));
                }
            }
        }
        if self.max_points == 0 {
            return Some("rules: max_points must be at least 1".into());
        }
        let mut covered = HashSet::new();
        for area in &self.areas {
            if area.tasks.is_empty() {
                return Some(format!("rules: area `{}` has no tasks", area.id));
            }
            for task in &area.tasks {
                if !tasks.contains(task.as_str()) {
                    return Some(format!(
                        "rules: area `{}` names task `{task}`: accepted are {}",
                        area.id,
                        TASKS.join(", ")
                    ));
                }
                if !covered.insert(task.as_str()) {
                    return Some(format!("rules: task `{task}` is in two areas"));
                }
            }
        }
        if let Some(missing) = TASKS.iter().find(|t| !covered.contains(**t)) {
            return Some(format!("rules: task `{missing}` is in no area"));
        }
        let levels: Vec<u8> = self.levels.iter().map(|l| l.level).collect();
        if levels != [0, 1, 2, 3, 4] {
            return Some(format!(
                "rules: levels are {levels:?}: expected exactly 0, 1, 2, 3, 4 in this order"
            ));
        }
        if self.levels[0].min_score != 0.0
            || self
                .levels
                .windows(2)
                .any(|w| w[1].min_score <= w[0].min_score)
        {
            return Some(
                "rules: level min_score must start at 0 and rise with every level".to_owned(),
            );
        }
        let mut ids = HashSet::new();
        for module in &self.modules {
            if !ids.insert(module.id.as_str()) {
                return Some(format!("rules: module `{}` appears twice", module.id));
            }
            for task in &module.tasks {
                if !tasks.contains(task.as_str()) {
                    return Some(format!(
                        "rules: module `{}` names task `{task}`: accepted are {}",
                        module.id,
                        TASKS.join(", ")
                    ));
                }
            }
            if module.tasks.is_empty() && module.up_to_level.is_none() && !module.no_device {
                return Some(format!(
                    "rules: module `{}` never applies: give tasks, up_to_level or no_device",
                    module.id
                ));
            }
            if module.services.is_empty() {
                return Some(format!(
                    "rules: module `{}` names no service of the national schema",
                    module.id
                ));
            }
        }
        for band in self.publics.keys() {
            if !AGE_BANDS.contains(&band.as_str()) {
                return Some(format!(
                    "rules: publics for age band `{band}`: accepted are {}",
                    AGE_BANDS.join(", ")
                ));
            }
        }
        for antenna in self.antennas.keys() {
            if !ANTENNAS.contains(&antenna.as_str()) {
                return Some(format!(
                    "rules: antenna `{antenna}`: accepted are {}",
                    ANTENNAS.join(", ")
                ));
            }
        }
        None
    }

    pub fn module(&self, id: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.id == id)
    }

    pub fn level(&self, level: u8) -> Option<&Level> {
        self.levels.iter().find(|l| l.level == level)
    }

    /// A task's score for an answer code (0 cannot, 1 with help, 2 alone).
    pub fn task_score(&self, code: u8) -> f64 {
        let answer = ANSWERS.get(usize::from(code)).copied().unwrap_or("cannot");
        let points = self.points.get(answer).copied().unwrap_or(0);
        f64::from(points) * 100.0 / f64::from(self.max_points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_are_valid_and_cover_every_task() {
        let rules = Rules::default_rules();
        assert_eq!(rules.levels.len(), 5);
        assert!(rules.modules.len() >= 5);
        assert_eq!(rules.task_score(2), 100.0);
        assert_eq!(rules.task_score(1), 50.0);
    }

    #[test]
    fn broken_rules_say_what_is_wrong() {
        let cases = [
            (
                DEFAULT_RULES.replace("\"job_search\"]\n\n[[areas]]", "\"job_hunt\"]\n\n[[areas]]"),
                "area `information` names task `job_hunt`: accepted are email,",
            ),
            (
                DEFAULT_RULES.replace("level = 4\nmin_score = 90", "level = 4\nmin_score = 10"),
                "must start at 0 and rise",
            ),
            (
                DEFAULT_RULES.replace("with_help = 1", "with_help = 7"),
                "points.with_help = 7 is above max_points = 2",
            ),
            (
                DEFAULT_RULES.replace("centre = {", "plateau = {"),
                "antenna `plateau`: accepted are nord, sud, est, ouest, centre",
            ),
            (
                DEFAULT_RULES.replace("version = ", "versio = "),
                "the rules file is not valid",
            ),
        ];
        for (text, expected) in cases {
            let err = Rules::parse(&text).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }
}
