//! Dutch words for dates and reasons, shared by the web admin and the messages.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Europe::Amsterdam;

const DAYS: [&str; 7] = ["ma", "di", "wo", "do", "vr", "za", "zo"];
const MONTHS: [&str; 12] = [
    "jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec",
];

/// "a", "a of b", "a, b of c".
pub fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} of {last}", rest.join(", ")),
    }
}

/// "ma 23 nov 2026 09:00" in Dutch local time.
pub fn date_time(t: DateTime<Utc>) -> String {
    let l = t.with_timezone(&Amsterdam);
    format!(
        "{} {} {} {} {}",
        DAYS[l.weekday().num_days_from_monday() as usize],
        l.day(),
        MONTHS[l.month0() as usize],
        l.year(),
        l.format("%H:%M")
    )
}

/// "23 nov 2026" in Dutch local time.
pub fn date(t: DateTime<Utc>) -> String {
    let l = t.with_timezone(&Amsterdam);
    format!("{} {} {}", l.day(), MONTHS[l.month0() as usize], l.year())
}

const WEEKDAYS: [&str; 7] = [
    "maandag",
    "dinsdag",
    "woensdag",
    "donderdag",
    "vrijdag",
    "zaterdag",
    "zondag",
];
const FULL_MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];

/// "december 2026" for `2026-12` (a month as `jjjj-mm`); the text itself when it is none.
pub fn month(m: &str) -> String {
    let parsed = m
        .split_once('-')
        .and_then(|(y, mm)| Some((y.parse::<i32>().ok()?, mm.parse::<usize>().ok()?)));
    match parsed {
        Some((y, mm)) if (1..=12).contains(&mm) => format!("{} {y}", FULL_MONTHS[mm - 1]),
        _ => m.to_owned(),
    }
}

/// "woensdag 25 november 2026" in Dutch local time.
pub fn long_date(t: DateTime<Utc>) -> String {
    day(t.with_timezone(&Amsterdam).date_naive())
}

/// "woensdag 25 november 2026".
pub fn day(d: NaiveDate) -> String {
    format!(
        "{} {} {} {}",
        WEEKDAYS[d.weekday().num_days_from_monday() as usize],
        d.day(),
        FULL_MONTHS[d.month0() as usize],
        d.year()
    )
}

/// "woensdag 25 november 2026 om 10:00" in Dutch local time.
pub fn day_and_time(t: DateTime<Utc>) -> String {
    format!("{} om {}", long_date(t), clock_time(t))
}

/// "10:00" in Dutch local time.
pub fn clock_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Amsterdam).format("%H:%M").to_string()
}

/// Dutch name of a stall reason code.
pub fn stall_reason(code: &str) -> String {
    match code {
        "uwv" => "wacht op UWV".to_owned(),
        "wmo_besluit" => "wacht op Wmo-besluit".to_owned(),
        "zorgaanbieder" => "wacht op zorgaanbieder".to_owned(),
        "financiering" => "wacht op financiering".to_owned(),
        "intern" => "ligt stil (intern)".to_owned(),
        "inactief" => "geen activiteit".to_owned(),
        "geen_route" => "geen route: geen voorwaarde geldt".to_owned(),
        "fase_verlopen" => "fase duurt langer dan de termijn".to_owned(),
        other => format!("ligt stil ({})", other.replace('_', " ")),
    }
}

/// A size in bytes as Dutch text: "900 bytes", "120 kB", "1,0 MB".
pub fn bytes(n: usize) -> String {
    if n < 1024 {
        format!("{n} bytes")
    } else if n < 1024 * 1024 {
        format!("{} kB", n / 1024)
    } else {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0)).replace('.', ",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn lists_end_with_of() {
        let l = |v: &[&str]| or_list(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(l(&[]), "");
        assert_eq!(l(&["Jobcoach"]), "Jobcoach");
        assert_eq!(l(&["a", "b", "c"]), "a, b of c");
    }

    #[test]
    fn dates_are_local_and_dutch() {
        // 09:00 UTC in winter is 10:00 in Amsterdam.
        let t = Utc
            .with_ymd_and_hms(2026, 11, 25, 9, 0, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(long_date(t), "woensdag 25 november 2026");
        assert_eq!(clock_time(t), "10:00");
        assert_eq!(date_time(t), "wo 25 nov 2026 10:00");
        assert_eq!(stall_reason("uwv"), "wacht op UWV");
    }
}

/// The Dutch words for a code a pathway uses as an answer or outcome (`beschut_werk`,
/// `wia`): the well-known ones of this domain, others with their underscores as spaces.
pub fn code_label(code: &str) -> String {
    let known = match code {
        "wia" => "WIA-uitkering",
        "wajong" => "Wajong",
        "ww" => "WW-uitkering",
        "bijstand" => "Bijstand (Participatiewet)",
        "geen" => "Geen",
        "beschut_werk" => "Beschut werk",
        "regulier_werk" => "Regulier werk",
        "betaald_werk" => "Betaald werk",
        "dagbesteding" => "Dagbesteding",
        "opleiding" => "Opleiding",
        "gestopt" => "Gestopt",
        "ingetrokken" => "Ingetrokken",
        "mbo-2" => "mbo niveau 2",
        "mbo-3" => "mbo niveau 3",
        "mbo-4" => "mbo niveau 4",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let spaced = code.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

#[cfg(test)]
mod code_tests {
    use super::code_label;

    #[test]
    fn codes_read_as_words() {
        assert_eq!(code_label("wia"), "WIA-uitkering");
        assert_eq!(code_label("beschut_werk"), "Beschut werk");
        assert_eq!(code_label("werkgever_wijzigt"), "Werkgever wijzigt");
        assert_eq!(code_label(""), "");
    }
}
