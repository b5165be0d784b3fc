//! Opening hours in OpenStreetMap's `opening_hours` syntax, evaluated in the place's local time
//! with French public holidays (`PH`).
//!
//! Local time: mainland France and Corsica follow the EU rule (CET, CEST from the last Sunday of
//! March to the last Sunday of October, changing at 01:00 UTC); overseas departments keep one
//! offset all year (Antilles −4, Guiana −3, Réunion +4, Mayotte +3).

use std::str::FromStr;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use opening_hours::localization::Country;
use opening_hours::{Context, OpeningHours};

/// Parses an expression, saying where it is wrong.
pub fn parse(expression: &str) -> Result<OpeningHours, crate::error::Invalid> {
    let parsed = OpeningHours::from_str(expression).map_err(|e| {
        crate::error::Invalid::NotOpeningHours(
            e.to_string()
                .lines()
                .next()
                .unwrap_or("syntax error")
                .to_owned(),
        )
    })?;
    Ok(parsed.with_context(Context::default().with_holidays(Country::FR.holidays())))
}

fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let mut day =
        NaiveDate::from_ymd_opt(year, month + 1, 1).unwrap_or_default() - Duration::days(1);
    while day.weekday() != Weekday::Sun {
        day -= Duration::days(1);
    }
    day
}

/// The UTC offset, in hours, of a department at a UTC instant.
pub fn utc_offset_hours(department: &str, utc: NaiveDateTime) -> i64 {
    match department {
        "971" | "972" | "977" | "978" => -4,
        "973" | "975" => -3,
        "974" => 4,
        "976" => 3,
        "988" => 11,
        "987" => -10,
        _ => {
            let year = utc.year();
            let start = last_sunday(year, 3)
                .and_hms_opt(1, 0, 0)
                .unwrap_or_default();
            let end = last_sunday(year, 10)
                .and_hms_opt(1, 0, 0)
                .unwrap_or_default();
            if utc >= start && utc < end { 2 } else { 1 }
        }
    }
}

/// The local wall-clock time at `unix` seconds in `department`.
pub fn local_time(department: &str, unix: i64) -> NaiveDateTime {
    let utc = Utc
        .timestamp_opt(unix, 0)
        .single()
        .unwrap_or_default()
        .naive_utc();
    // Out-of-range instants (a client's year 262142) stay as they are rather than overflow.
    utc.checked_add_signed(Duration::hours(utc_offset_hours(department, utc)))
        .unwrap_or(utc)
}

/// Whether a place with these hours is open at `unix` seconds (unknown hours: not known open).
pub fn is_open(hours: &OpeningHours, department: &str, unix: i64) -> bool {
    hours.is_open(local_time(department, unix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn open(expr: &str, local: &str) -> bool {
        parse(expr).unwrap().is_open(at(local))
    }

    /// Cases from the OSM opening_hours specification.
    #[test]
    fn the_specification_cases() {
        // Weekday ranges and several time spans.
        let week = "Mo-Fr 08:30-12:00,13:30-17:00";
        assert!(open(week, "2026-11-23 09:00"), "Monday morning");
        assert!(!open(week, "2026-11-23 12:30"), "lunch break");
        assert!(!open(week, "2026-11-28 10:00"), "Saturday");
        // Overnight ranges spill into the next day.
        let night = "Fr-Sa 22:00-02:00";
        assert!(open(night, "2026-11-27 23:30"), "Friday night");
        assert!(open(night, "2026-11-28 01:30"), "after midnight, Saturday");
        assert!(
            open(night, "2026-11-29 01:30"),
            "Saturday's range runs to 02:00 on Sunday"
        );
        assert!(!open(night, "2026-11-29 03:00"), "and ends there");
        assert!(
            !open(night, "2026-11-26 23:30"),
            "Thursday night is not in Fr-Sa"
        );
        // Public holidays: closed on 11 November, Armistice day, a Wednesday in 2026.
        let holidays = "Mo-Sa 09:00-18:00; PH off";
        assert!(open(holidays, "2026-11-12 10:00"));
        assert!(!open(holidays, "2026-11-11 10:00"), "PH off");
        let only_holidays = "PH 10:00-12:00";
        assert!(open(only_holidays, "2026-12-25 11:00"), "Christmas");
        assert!(!open(only_holidays, "2026-12-24 11:00"));
        // `off` rules override earlier ones.
        let off = "Mo-Su 09:00-18:00; We off";
        assert!(!open(off, "2026-11-25 10:00"), "Wednesday off");
        assert!(open(off, "2026-11-26 10:00"));
        // Month selectors and 24/7.
        assert!(open("24/7", "2026-11-22 03:00"));
        assert!(!open("Jan-Jun Mo-Fr 09:00-17:00", "2026-11-23 10:00"));
    }

    #[test]
    fn bad_expressions_say_what_is_expected() {
        let err = parse("Lundi 9h-12h").err().unwrap().to_string();
        assert!(
            err.contains("OpenStreetMap opening_hours syntax") && err.contains("expected e.g."),
            "{err}"
        );
    }

    #[test]
    fn local_time_follows_summer_time_and_overseas_offsets() {
        // 2026-07-01 10:00 UTC: 12:00 in Amiens (CEST), 14:00 in Réunion.
        let summer = Utc
            .with_ymd_and_hms(2026, 7, 1, 10, 0, 0)
            .unwrap()
            .timestamp();
        let utc = Utc.timestamp_opt(summer, 0).unwrap().naive_utc();
        assert_eq!(local_time("80", summer) - utc, Duration::hours(2));
        assert_eq!(local_time("974", summer) - utc, Duration::hours(4));
        // In November, CET.
        let winter = Utc
            .with_ymd_and_hms(2026, 11, 22, 10, 0, 0)
            .unwrap()
            .timestamp();
        assert_eq!(local_time("80", winter), at("2026-11-22 11:00"));
    }
}
