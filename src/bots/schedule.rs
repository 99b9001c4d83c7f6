//! When a bot fires: a 5-field cron expression read in an IANA time zone, turned into instants in UTC.
//!
//! Daylight saving: a fixed time that a spring-forward skips fires once, at the first instant after the gap; a
//! fixed time that a fall-back repeats fires once, at its first occurrence.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A parsed cron expression and the time zone it is read in.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
    text: String,
}

impl Schedule {
    /// Parses `minute hour day-of-month month day-of-week` and an IANA zone name such as `Europe/Berlin`.
    pub fn parse(cron: &str, tz: &str) -> Result<Schedule, String> {
        let fields = cron.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "schedule {cron:?} has {fields} fields; use 5: minute hour day-of-month month day-of-week"
            ));
        }
        let parsed = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(cron)
            .map_err(|e| format!("schedule {cron:?} is not a cron expression: {e}"))?;
        let tz = parse_tz(tz)?;
        Ok(Schedule {
            cron: parsed,
            tz,
            text: cron.to_owned(),
        })
    }

    /// The time zone the expression is read in.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The first fire strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut from = t.with_timezone(&self.tz);
        // A result at or before `t` can come back from a repeated hour; search again past it.
        for _ in 0..4 {
            let next = self
                .cron
                .find_next_occurrence(&from, false)
                .ok()?
                .with_timezone(&Utc);
            if next > t {
                return Some(next);
            }
            from = (t + chrono::Duration::hours(1)).with_timezone(&self.tz);
        }
        None
    }

    /// The latest fire at or before `t` and after `after` (if any), found by walking forward from `after`.
    pub fn latest_between(&self, after: DateTime<Utc>, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut latest = None;
        let mut cursor = after;
        while let Some(next) = self.next_after(cursor) {
            if next > t {
                break;
            }
            latest = Some(next);
            cursor = next;
        }
        latest
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.text, self.tz.name())
    }
}

/// Parses an IANA time zone name.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    Tz::from_str(name).map_err(|_| {
        format!("time zone {name:?} is unknown; use an IANA name such as Europe/Berlin or UTC")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_daily_briefing_fires_at_eight_local_time() {
        let s = Schedule::parse("0 8 * * *", "Europe/Berlin").expect("valid");
        // Winter: UTC+1.
        assert_eq!(
            s.next_after(utc("2026-01-15T06:00:00Z")),
            Some(utc("2026-01-15T07:00:00Z"))
        );
        assert_eq!(
            s.next_after(utc("2026-01-15T07:00:00Z")),
            Some(utc("2026-01-16T07:00:00Z"))
        );
        // Summer: UTC+2.
        assert_eq!(
            s.next_after(utc("2026-07-01T00:00:00Z")),
            Some(utc("2026-07-01T06:00:00Z"))
        );
    }

    #[test]
    fn every_five_minutes_fires_on_the_five() {
        let s = Schedule::parse("*/5 * * * *", "UTC").expect("valid");
        assert_eq!(
            s.next_after(utc("2026-01-15T06:02:10Z")),
            Some(utc("2026-01-15T06:05:00Z"))
        );
        assert_eq!(
            s.latest_between(utc("2026-01-15T06:00:00Z"), utc("2026-01-15T06:17:00Z")),
            Some(utc("2026-01-15T06:15:00Z"))
        );
        assert_eq!(
            s.latest_between(utc("2026-01-15T06:15:00Z"), utc("2026-01-15T06:19:59Z")),
            None
        );
    }

    #[test]
    fn a_time_repeated_by_the_fall_back_fires_once() {
        // New York falls back on 2026-11-01: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
        let s = Schedule::parse("30 1 * * *", "America/New_York").expect("valid");
        let first = s.next_after(utc("2026-11-01T04:00:00Z")).expect("fires");
        assert_eq!(first, utc("2026-11-01T05:30:00Z"));
        let second = s.next_after(first).expect("fires");
        assert_eq!(second, utc("2026-11-02T06:30:00Z"), "not again at 06:30Z");
        assert_eq!(
            s.latest_between(first, utc("2026-11-01T07:00:00Z")),
            None,
            "the repeated 01:30 is not a second fire"
        );
    }

    #[test]
    fn a_time_skipped_by_the_spring_forward_fires_once_after_the_gap() {
        // New York springs forward on 2026-03-08: 02:00-02:59 does not exist.
        let s = Schedule::parse("30 2 * * *", "America/New_York").expect("valid");
        let fire = s.next_after(utc("2026-03-08T05:00:00Z")).expect("fires");
        let local = fire.with_timezone(&s.tz());
        assert_eq!(
            local.date_naive(),
            chrono::NaiveDate::from_ymd_opt(2026, 3, 8).expect("date")
        );
        assert_eq!(fire, utc("2026-03-08T07:00:00Z"), "03:00 EDT");
        let next = s.next_after(fire).expect("fires");
        assert_eq!(
            next,
            s.tz()
                .with_ymd_and_hms(2026, 3, 9, 2, 30, 0)
                .single()
                .expect("exists")
                .with_timezone(&Utc)
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_explained() {
        assert!(
            Schedule::parse("0 8 * *", "UTC")
                .expect_err("4 fields")
                .contains("4 fields")
        );
        assert!(
            Schedule::parse("0 0 8 * * *", "UTC")
                .expect_err("seconds")
                .contains("6 fields")
        );
        assert!(Schedule::parse("61 8 * * *", "UTC").is_err());
        assert!(
            Schedule::parse("0 8 * * *", "Mars/Olympus")
                .expect_err("zone")
                .contains("Mars/Olympus")
        );
        assert!(Schedule::parse("0 8 * * MON-FRI", "Asia/Tokyo").is_ok());
    }
}
