//! Synthetic surveys for demonstrations, tests and benchmarks, shaped like the CCAS survey:
//! among every hundred respondents (in order of a latent ability spread evenly over them),
//! exactly 70 cannot file their tax return online alone and 36 do no online formality at all.
//! Answers to the other tasks follow the same ability with noise; antennas, days and
//! equipment vary with a seeded generator, so a run is reproducible.

use polars::prelude::*;

use crate::survey::{AGE_BANDS, ANSWERS, ANTENNAS, TASKS};

/// SplitMix64: small, fast, reproducible.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let v = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        v
    }

    pub fn below(&mut self, n: usize) -> usize {
        #[allow(clippy::cast_possible_truncation)]
        let v = (self.next_u64() % n as u64) as usize;
        v
    }
}

/// One synthetic respondent, in the survey's words.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub respondent_id: String,
    pub surveyed_on: String,
    pub antenna: &'static str,
    pub age_band: &'static str,
    pub equipment: [&'static str; 3],
    pub tasks: [&'static str; 8],
}

/// The ability rank of respondent `i` among `n`, in [0, 1): a permutation of `0..n` (7919 is
/// prime), so every hundred consecutive ranks hold each percentile once.
fn ability(i: u64, n: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let rank = ((i.wrapping_mul(7919)) % n) as f64 / n as f64;
    rank
}

fn answer(value: f64, cannot_below: f64, help_below: f64) -> &'static str {
    if value < cannot_below {
        ANSWERS[0]
    } else if value < help_below {
        ANSWERS[1]
    } else {
        ANSWERS[2]
    }
}

/// Respondent `i` of `n` (`n` a multiple of 100 for the exact published shares).
pub fn row(i: u64, n: u64, rng: &mut Rng) -> Row {
    let a = ability(i, n);
    let mut noisy = |spread: f64| (a + (rng.unit() - 0.5) * spread).clamp(0.0, 0.999);
    // Exact: the published figures are the ability thresholds.
    let tax = answer(a, 0.45, 0.70);
    let procedure = answer(a, 0.36, 0.60);
    let tasks = [
        answer(noisy(0.2), 0.20, 0.40), // email
        procedure,                      // online_procedure
        tax,                            // tax_online
        answer(noisy(0.2), 0.35, 0.65), // health_account
        answer(noisy(0.3), 0.30, 0.55), // job_search
        answer(noisy(0.3), 0.15, 0.35), // video_call
        answer(noisy(0.2), 0.30, 0.55), // online_banking
        answer(noisy(0.3), 0.40, 0.75), // spot_scam
    ];
    // Older people are further from digital, on the whole.
    let band = ((1.0 - a) * 4.0 + (rng.unit() - 0.5) * 2.0).clamp(0.0, 4.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let age_band = AGE_BANDS[(band.round() as usize).min(4)];
    let yes_no = |yes: bool| if yes { "yes" } else { "no" };
    let equipment = [
        yes_no(a > 0.12 || rng.unit() < 0.5),
        yes_no(a > 0.55 || rng.unit() < 0.2),
        yes_no(a > 0.30 || rng.unit() < 0.4),
    ];
    let month = 1 + rng.below(12);
    let day = 1 + rng.below(28);
    Row {
        respondent_id: format!("R{i:08}"),
        // December 2025 to November 2026: a year of surveys, all in the past.
        surveyed_on: if month == 12 {
            format!("2025-12-{day:02}")
        } else {
            format!("2026-{month:02}-{day:02}")
        },
        antenna: ANTENNAS[rng.below(ANTENNAS.len())],
        age_band,
        equipment,
        tasks,
    }
}

/// Writes `n` respondents as a survey CSV file.
pub fn write_csv(path: &std::path::Path, n: u64, seed: u64) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "{}", crate::survey::columns().join(","))?;
    let mut rng = Rng::new(seed);
    for i in 0..n {
        let r = row(i, n, &mut rng);
        writeln!(
            out,
            "{},{},{},{},{},{}",
            r.respondent_id,
            r.surveyed_on,
            r.antenna,
            r.age_band,
            r.equipment.join(","),
            r.tasks.join(",")
        )?;
    }
    out.flush()
}

/// Rows `start..end` of `n` as a frame of text columns (the survey file's form).
pub fn frame(start: u64, end: u64, n: u64, seed: u64) -> PolarsResult<DataFrame> {
    let mut rng = Rng::new(seed ^ start.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let rows: Vec<Row> = (start..end).map(|i| row(i, n, &mut rng)).collect();
    let mut columns = vec![
        Column::new(
            "respondent_id".into(),
            rows.iter()
                .map(|r| r.respondent_id.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "surveyed_on".into(),
            rows.iter()
                .map(|r| r.surveyed_on.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "antenna".into(),
            rows.iter().map(|r| r.antenna).collect::<Vec<_>>(),
        ),
        Column::new(
            "age_band".into(),
            rows.iter().map(|r| r.age_band).collect::<Vec<_>>(),
        ),
    ];
    for (k, name) in crate::survey::EQUIPMENT.iter().enumerate() {
        columns.push(Column::new(
            (*name).into(),
            rows.iter().map(|r| r.equipment[k]).collect::<Vec<_>>(),
        ));
    }
    for (k, name) in TASKS.iter().enumerate() {
        columns.push(Column::new(
            (*name).into(),
            rows.iter().map(|r| r.tasks[k]).collect::<Vec<_>>(),
        ));
    }
    DataFrame::new(rows.len(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hundred_ranks_hold_the_published_shares() {
        let n = 2_000;
        let mut rng = Rng::new(7);
        let rows: Vec<Row> = (0..n).map(|i| row(i, n, &mut rng)).collect();
        let tax = rows.iter().filter(|r| r.tasks[2] != "alone").count();
        let none = rows.iter().filter(|r| r.tasks[1] == "cannot").count();
        assert_eq!((tax, none), (1_400, 720));
        let again: Vec<Row> = {
            let mut rng = Rng::new(7);
            (0..n).map(|i| row(i, n, &mut rng)).collect()
        };
        assert_eq!(rows, again, "the same seed gives the same survey");
    }
}
