//! Terms (termijnen): `10 werkdagen`, `6 weken`, `8 werkuren`, or ISO-8601 such as `P6W`.
//!
//! A term keeps the text it was written as, so a pathway file round-trips unchanged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a term counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermKind {
    /// Calendar time: months, days and an exact number of seconds.
    Calendar { months: u32, days: u32, seconds: u64 },
    /// Working days: skip weekends, public holidays and configured closure days.
    WorkingDays(u32),
    /// Working hours inside the working day on working days.
    WorkingHours(u32),
}

/// A parsed term with its source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub kind: TermKind,
    source: String,
}

/// A term that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot read term `{text}`: {why} (write e.g. `10 werkdagen`, `6 weken`, `2 kalenderdagen`, `8 werkuren`, `3 maanden` or ISO-8601 `P6W`)"
)]
pub struct TermError {
    pub text: String,
    pub why: String,
}

impl Term {
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn calendar_days(days: u32) -> Term {
        Term {
            kind: TermKind::Calendar {
                months: 0,
                days,
                seconds: 0,
            },
            source: format!("{days} kalenderdagen"),
        }
    }

    /// Whether the term counts whole days (its end is a date, not a moment).
    pub fn is_day_granular(&self) -> bool {
        match self.kind {
            TermKind::Calendar { seconds, .. } => seconds == 0,
            TermKind::WorkingDays(_) => true,
            TermKind::WorkingHours(_) => false,
        }
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for Term {
    type Err = TermError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let err = |why: &str| TermError {
            text: text.to_owned(),
            why: why.to_owned(),
        };
        if trimmed.starts_with('P') {
            return parse_iso(trimmed).map_err(|why| err(&why));
        }
        let mut parts = trimmed.split_whitespace();
        let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(err("expected a number and a unit"));
        };
        let n: u32 = n.parse().map_err(|_| err("the amount is not a whole number"))?;
        let cal = |months, days, seconds| TermKind::Calendar {
            months,
            days,
            seconds,
        };
        let kind = match unit.to_lowercase().as_str() {
            "dag" | "dagen" | "kalenderdag" | "kalenderdagen" => cal(0, n, 0),
            "werkdag" | "werkdagen" => TermKind::WorkingDays(n),
            "werkuur" | "werkuren" => TermKind::WorkingHours(n),
            "week" | "weken" => cal(0, n.saturating_mul(7), 0),
            "maand" | "maanden" => cal(n, 0, 0),
            "jaar" | "jaren" => cal(n.saturating_mul(12), 0, 0),
            "uur" | "uren" => cal(0, 0, u64::from(n) * 3600),
            "minuut" | "minuten" => cal(0, 0, u64::from(n) * 60),
            other => return Err(err(&format!("unknown unit `{other}`"))),
        };
        Ok(Term {
            kind,
            source: trimmed.to_owned(),
        })
    }
}

fn parse_iso(text: &str) -> Result<Term, String> {
    let parsed = iso8601::duration(text)?;
    let kind = match parsed {
        iso8601::Duration::Weeks(w) => TermKind::Calendar {
            months: 0,
            days: w.saturating_mul(7),
            seconds: 0,
        },
        iso8601::Duration::YMDHMS {
            year,
            month,
            day,
            hour,
            minute,
            second,
            millisecond,
        } => {
            if millisecond != 0 {
                return Err("fractions of a second are not supported".into());
            }
            TermKind::Calendar {
                months: year.saturating_mul(12).saturating_add(month),
                days: day,
                seconds: u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second),
            }
        }
    };
    Ok(Term {
        kind,
        source: text.to_owned(),
    })
}

impl Serialize for Term {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Term {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dutch_and_iso_terms() {
        let t: Term = "10 werkdagen".parse().unwrap();
        assert_eq!(t.kind, TermKind::WorkingDays(10));
        let t: Term = "6 weken".parse().unwrap();
        assert_eq!(
            t.kind,
            TermKind::Calendar {
                months: 0,
                days: 42,
                seconds: 0
            }
        );
        let t: Term = "P6W".parse().unwrap();
        assert_eq!(t.to_string(), "P6W");
        assert_eq!(
            t.kind,
            TermKind::Calendar {
                months: 0,
                days: 42,
                seconds: 0
            }
        );
        let t: Term = "PT2H".parse().unwrap();
        assert_eq!(
            t.kind,
            TermKind::Calendar {
                months: 0,
                days: 0,
                seconds: 7200
            }
        );
        assert_eq!(
            "8 werkuren".parse::<Term>().unwrap().kind,
            TermKind::WorkingHours(8)
        );
        assert_eq!(
            "3 maanden".parse::<Term>().unwrap().kind,
            TermKind::Calendar {
                months: 3,
                days: 0,
                seconds: 0
            }
        );
    }

    #[test]
    fn rejects_bad_terms_with_the_text() {
        let e = "tien werkdagen".parse::<Term>().unwrap_err();
        assert!(e.to_string().contains("tien werkdagen"), "{e}");
        let e = "10 fortnights".parse::<Term>().unwrap_err();
        assert!(e.to_string().contains("unknown unit `fortnights`"), "{e}");
        assert!("PXYZ".parse::<Term>().is_err());
    }
}
