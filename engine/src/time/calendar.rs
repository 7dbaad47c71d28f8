//! Dutch legal time: public holidays of the Algemene termijnenwet, working days and hours,
//! and adding a [`Term`] to a moment in Europe/Amsterdam.
//!
//! Pure: no clock reads. Bridge days and an organisation's closure days are data
//! ([`Calendar::closed_days`]), never hard-coded.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Days, Duration, LocalResult, Months, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Europe::Amsterdam;

use crate::text::dutch;
use crate::time::term::{Term, TermKind};

/// A working-time calendar for one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Extra non-working days: bridge days equated with holidays by royal decree, and the
    /// organisation's own closure days.
    pub closed_days: BTreeSet<NaiveDate>,
    /// Start of the working day (local time), for working-hour terms.
    pub day_start: NaiveTime,
    /// End of the working day (local time).
    pub day_end: NaiveTime,
    /// Quiet hours (local time): reminders and escalations due from `quiet_from` until
    /// `quiet_until`, or on a day off, wait for `morning` of the next working day.
    pub quiet_from: NaiveTime,
    pub quiet_until: NaiveTime,
    pub morning: NaiveTime,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            closed_days: BTreeSet::new(),
            day_start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN),
            day_end: NaiveTime::from_hms_opt(17, 0, 0).unwrap_or(NaiveTime::MIN),
            quiet_from: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or(NaiveTime::MIN),
            quiet_until: NaiveTime::from_hms_opt(7, 0, 0).unwrap_or(NaiveTime::MIN),
            morning: NaiveTime::from_hms_opt(8, 30, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

/// The Algemene termijnenwet art. 3 holidays of a year, with their Dutch names.
pub fn public_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let mut out = Vec::with_capacity(10);
    let d = |m, day| NaiveDate::from_ymd_opt(year, m, day);
    let mut push = |date: Option<NaiveDate>, name| {
        if let Some(date) = date {
            out.push((date, name));
        }
    };
    push(d(1, 1), "Nieuwjaarsdag");
    if let Ok(e) = computus::gregorian(year)
        && let Some(easter) = NaiveDate::from_ymd_opt(e.year, e.month, e.day)
    {
        let rel = |n: i64| easter.checked_add_signed(Duration::days(n));
        push(rel(-2), "Goede Vrijdag");
        push(rel(1), "Tweede Paasdag");
        push(rel(39), "Hemelvaartsdag");
        push(rel(50), "Tweede Pinksterdag");
    }
    let kings_day = d(4, 27).map(|k| {
        if k.weekday() == Weekday::Sun {
            k.pred_opt().unwrap_or(k)
        } else {
            k
        }
    });
    push(kings_day, "Koningsdag");
    push(d(5, 5), "Bevrijdingsdag");
    push(d(12, 25), "Eerste Kerstdag");
    push(d(12, 26), "Tweede Kerstdag");
    out.sort();
    out
}

/// The name of the holiday on `date`, if it is one.
pub fn holiday_name(date: NaiveDate) -> Option<&'static str> {
    public_holidays(date.year())
        .into_iter()
        .find(|(d, _)| *d == date)
        .map(|(_, n)| n)
}

/// The result of adding a term, with the reasoning a person can check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDate {
    pub at: DateTime<Utc>,
    /// The local date the term ends on (for day terms the whole day counts).
    pub date: NaiveDate,
    pub explanation: Vec<String>,
}

impl Calendar {
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
            && holiday_name(date).is_none()
            && !self.closed_days.contains(&date)
    }

    fn why_not_working(&self, date: NaiveDate) -> String {
        if let Some(n) = holiday_name(date) {
            format!("{} is {n}", dutch::day(date))
        } else if self.closed_days.contains(&date) {
            format!("{} is een sluitingsdag van de organisatie", dutch::day(date))
        } else {
            format!("{} valt in het weekend", dutch::day(date))
        }
    }

    fn next_working_day(&self, mut date: NaiveDate, why: &mut Vec<String>) -> NaiveDate {
        while !self.is_working_day(date) {
            why.push(format!(
                "{}: de termijn schuift een dag op",
                self.why_not_working(date)
            ));
            date = date.succ_opt().unwrap_or(date);
        }
        date
    }

    /// Adds `term` to `start`. With `atw`, applies the Algemene termijnenwet to a
    /// calendar-day term: an end on a Saturday, Sunday or holiday moves to the next
    /// working day, and a term of three days or more contains at least two working days.
    pub fn add(&self, start: DateTime<Utc>, term: &Term, atw: bool) -> DueDate {
        let local = start.with_timezone(&Amsterdam);
        let start_date = local.date_naive();
        let mut why = vec![format!("Begint {}; termijn {term}", dutch::day_and_time(start))];
        match term.kind {
            TermKind::Calendar {
                months,
                days,
                seconds,
            } => {
                if seconds > 0 && months == 0 && days == 0 {
                    let at = start + Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 2));
                    let date = at.with_timezone(&Amsterdam).date_naive();
                    why.push(format!("Precies die duur: eindigt {}", dutch::day_and_time(at)));
                    return DueDate {
                        at,
                        date,
                        explanation: why,
                    };
                }
                let mut end = start_date
                    .checked_add_months(Months::new(months))
                    .and_then(|d| d.checked_add_days(Days::new(u64::from(days))))
                    .unwrap_or(NaiveDate::MAX);
                why.push(format!("In kalenderdagen geteld: eindigt op {}", dutch::day(end)));
                if atw {
                    let rolled = self.next_working_day(end, &mut why);
                    end = rolled;
                    let total_days = (end - start_date).num_days();
                    if total_days >= 3 {
                        loop {
                            let working = working_days_between(self, start_date, end);
                            if working >= 2 {
                                break;
                            }
                            why.push(format!(
                                "Algemene termijnenwet art. 1 lid 2: maar {working} werkdag(en) in de termijn, dus een dag langer"
                            ));
                            end = end.succ_opt().unwrap_or(end);
                            end = self.next_working_day(end, &mut why);
                        }
                    }
                    why.push(format!(
                        "Na de Algemene termijnenwet: eindigt op {}",
                        dutch::day(end)
                    ));
                }
                let at = end_of_day(end);
                DueDate {
                    at,
                    date: end,
                    explanation: why,
                }
            }
            TermKind::WorkingDays(n) => {
                let mut date = start_date;
                let mut counted = 0;
                let mut skipped = Vec::new();
                while counted < n {
                    date = date.succ_opt().unwrap_or(date);
                    if self.is_working_day(date) {
                        counted += 1;
                    } else if !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
                        skipped.push(self.why_not_working(date));
                    }
                }
                if !skipped.is_empty() {
                    why.push(format!("Niet meegeteld: {}", skipped.join("; ")));
                }
                why.push(format!(
                    "{n} werkdagen (weekenden niet meegeteld): eindigt op {}",
                    dutch::day(date)
                ));
                DueDate {
                    at: end_of_day(date),
                    date,
                    explanation: why,
                }
            }
            TermKind::WorkingHours(n) => {
                let at = self.add_working_hours(start, n, &mut why);
                let date = at.with_timezone(&Amsterdam).date_naive();
                DueDate {
                    at,
                    date,
                    explanation: why,
                }
            }
        }
    }

    fn add_working_hours(&self, start: DateTime<Utc>, hours: u32, why: &mut Vec<String>) -> DateTime<Utc> {
        let mut remaining = Duration::hours(i64::from(hours));
        let local = start.with_timezone(&Amsterdam);
        let mut date = local.date_naive();
        let mut time = local.time().clamp(self.day_start, self.day_end);
        loop {
            if self.is_working_day(date) && time < self.day_end {
                let available = self.day_end - time;
                if remaining <= available {
                    let end = local_moment(date, time + remaining);
                    why.push(format!(
                        "{hours} werkuren ({}–{} op werkdagen): eindigt {}",
                        self.day_start.format("%H:%M"),
                        self.day_end.format("%H:%M"),
                        dutch::day_and_time(end)
                    ));
                    return end;
                }
                remaining -= available;
            }
            date = date.succ_opt().unwrap_or(date);
            time = self.day_start;
        }
    }
}

fn working_days_between(cal: &Calendar, start: NaiveDate, end: NaiveDate) -> u32 {
    let mut n = 0;
    let mut d = start;
    while d < end {
        d = d.succ_opt().unwrap_or(end);
        if cal.is_working_day(d) {
            n += 1;
        }
    }
    n
}

/// The last second of `date` in Europe/Amsterdam.
pub fn end_of_day(date: NaiveDate) -> DateTime<Utc> {
    let t = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
    local_moment(date, t)
}

/// A local Amsterdam wall-clock moment as UTC (DST gaps move forward, folds take the first).
pub fn local_moment(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive = date.and_time(time);
    match Amsterdam.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        LocalResult::None => Amsterdam
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        // local Amsterdam time "YYYY-MM-DD HH:MM"
        let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        local_moment(naive.date(), naive.time())
    }

    #[test]
    fn holidays_match_the_domain_table() {
        let want = |y, list: &[&str]| {
            let got: Vec<NaiveDate> = public_holidays(y).into_iter().map(|(d, _)| d).collect();
            let want: Vec<NaiveDate> = list.iter().map(|s| date(s)).collect();
            assert_eq!(got, want, "holidays {y}");
        };
        want(
            2025,
            &[
                "2025-01-01",
                "2025-04-18",
                "2025-04-21",
                "2025-04-26",
                "2025-05-05",
                "2025-05-29",
                "2025-06-09",
                "2025-12-25",
                "2025-12-26",
            ],
        );
        want(
            2026,
            &[
                "2026-01-01",
                "2026-04-03",
                "2026-04-06",
                "2026-04-27",
                "2026-05-05",
                "2026-05-14",
                "2026-05-25",
                "2026-12-25",
                "2026-12-26",
            ],
        );
        want(
            2027,
            &[
                "2027-01-01",
                "2027-03-26",
                "2027-03-29",
                "2027-04-27",
                "2027-05-05",
                "2027-05-06",
                "2027-05-17",
                "2027-12-25",
                "2027-12-26",
            ],
        );
    }

    #[test]
    fn working_days_skip_weekends_and_holidays() {
        let cal = Calendar::default();
        // Wed 1 April 2026 + 10 werkdagen: Good Friday 3 Apr and Easter Monday 6 Apr skipped.
        let due = cal.add(at("2026-04-01 10:00"), &"10 werkdagen".parse().unwrap(), false);
        assert_eq!(due.date, date("2026-04-17"));
        assert!(
            due.explanation.iter().any(|l| l.contains("Goede Vrijdag")),
            "{:?}",
            due.explanation
        );
        // Across Christmas: Wed 23 Dec 2026 + 3 werkdagen → 25, 26 (Sat), 27 (Sun) skipped → 28, 29, 30.
        let due = cal.add(at("2026-12-23 09:00"), &"3 werkdagen".parse().unwrap(), false);
        assert_eq!(due.date, date("2026-12-29"));
    }

    #[test]
    fn closure_days_are_data() {
        let mut cal = Calendar::default();
        // Friday after Ascension 2026 as a bridge day.
        cal.closed_days.insert(date("2026-05-15"));
        let due = cal.add(at("2026-05-13 09:00"), &"2 werkdagen".parse().unwrap(), false);
        // 14 May Ascension, 15 May bridge, 16/17 weekend → 18 and 19 May.
        assert_eq!(due.date, date("2026-05-19"));
    }

    #[test]
    fn atw_rolls_a_term_end_off_the_weekend_and_holidays() {
        let cal = Calendar::default();
        // 6 weeks from Sat 14 Nov 2026 ends Sat 26 Dec (Tweede Kerstdag) → Mon 28 Dec.
        let due = cal.add(at("2026-11-14 12:00"), &"6 weken".parse().unwrap(), true);
        assert_eq!(due.date, date("2026-12-28"));
        // "Waarom deze termijn?" in Dutch, with Dutch dates.
        assert_eq!(
            due.explanation,
            [
                "Begint zaterdag 14 november 2026 om 12:00; termijn 6 weken",
                "In kalenderdagen geteld: eindigt op zaterdag 26 december 2026",
                "zaterdag 26 december 2026 is Tweede Kerstdag: de termijn schuift een dag op",
                "zondag 27 december 2026 valt in het weekend: de termijn schuift een dag op",
                "Na de Algemene termijnenwet: eindigt op maandag 28 december 2026",
            ]
        );
        let plain = cal.add(at("2026-11-14 12:00"), &"6 weken".parse().unwrap(), false);
        assert_eq!(plain.date, date("2026-12-26"));
        // Koningsdag on a Sunday (2025): 26 April is the holiday; a term ending then rolls.
        let due = cal.add(at("2025-04-19 12:00"), &"7 dagen".parse().unwrap(), true);
        assert_eq!(due.date, date("2025-04-28"));
    }

    #[test]
    fn atw_needs_two_working_days_in_terms_of_three_days_or_more() {
        let cal = Calendar::default();
        // Thu 24 Dec 2026 + 3 days = Sun 27 → Mon 28: only one working day (28th) → Tue 29.
        let due = cal.add(at("2026-12-24 12:00"), &"3 dagen".parse().unwrap(), true);
        assert_eq!(due.date, date("2026-12-29"));
    }

    #[test]
    fn day_terms_end_at_local_midnight_across_dst() {
        let cal = Calendar::default();
        // DST starts 29 March 2026; the due moment is 23:59:59 local, i.e. 21:59:59 UTC in summer.
        let due = cal.add(at("2026-03-27 10:00"), &"3 dagen".parse().unwrap(), false);
        assert_eq!(due.date, date("2026-03-30"));
        assert_eq!(due.at.to_rfc3339(), "2026-03-30T21:59:59+00:00");
        let due = cal.add(at("2026-10-23 10:00"), &"3 dagen".parse().unwrap(), false);
        assert_eq!(due.at.to_rfc3339(), "2026-10-26T22:59:59+00:00");
    }

    #[test]
    fn working_hours_stay_inside_the_working_day() {
        let cal = Calendar::default();
        // Fri 16:00 + 2 werkuren → Mon 10:00.
        let due = cal.add(at("2026-11-20 16:00"), &"2 werkuren".parse().unwrap(), false);
        assert_eq!(due.at, at("2026-11-23 10:00"));
        // Exact hours ignore the working day.
        let due = cal.add(at("2026-11-20 16:00"), &"PT2H".parse().unwrap(), false);
        assert_eq!(due.at, at("2026-11-20 18:00"));
    }
}
