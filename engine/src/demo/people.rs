//! Made-up residents for the demo, the seed and the benchmarks: Dutch names, dates of birth,
//! the five municipalities of the Oss pilot, and BSNs that pass the 11-proef but belong to
//! nobody we know of (they are generated, never copied).

use chrono::{Datelike, NaiveDate};

use crate::engine::{Engine, Result};
use crate::resident::{Bsn, Resident, ResidentInput};

const GIVEN: &[&str] = &[
    "Pablo",
    "Sjaak",
    "Fatima",
    "Jan-Willem",
    "Noor",
    "Mohamed",
    "Anouk",
    "Kees",
    "Zoë",
    "Daan",
    "Özlem",
    "Ruud",
    "Sanne",
    "Bram",
    "Ilse",
    "Yusuf",
    "Marieke",
    "Thijs",
    "Chantal",
    "Joost",
    "Esra",
    "Henk",
    "Lotte",
    "Sven",
];

const FAMILY: &[&str] = &[
    "Verhoeven",
    "de Vries",
    "van den Heuvel",
    "Bakker",
    "Jansen",
    "El Amrani",
    "van der Linden",
    "Smits",
    "’t Hart",
    "Yılmaz",
    "de Groot",
    "Mulder",
    "Hendriks",
    "van Dijk",
    "Peters",
    "Çelik",
    "Willems",
    "Bosch",
    "van Rooij",
    "Kuijpers",
    "Aarts",
    "van Lieshout",
    "Martens",
    "Verbruggen",
    "Schouten",
    "Dekker",
];

/// The municipalities of the Oss pilot.
pub const MUNICIPALITIES: &[&str] = &["Oss", "Bernheze", "Boekel", "Landerd", "Uden"];

/// The `i`th made-up resident; the same `i` gives the same person.
pub fn resident(i: usize) -> ResidentInput {
    let given = GIVEN[i % GIVEN.len()];
    // Unique pairs for the first 24 × 26 people; after that names repeat (with other dates).
    let family = FAMILY[(i / GIVEN.len() + i) % FAMILY.len()];
    // Oss is the largest of the five: half the made-up residents live there.
    let municipality = if i.is_multiple_of(2) {
        MUNICIPALITIES[0]
    } else {
        MUNICIPALITIES[1 + (i / 2) % (MUNICIPALITIES.len() - 1)]
    };
    let year = 1960 + i32::try_from(i % 45).unwrap_or(0);
    let birth = NaiveDate::from_ymd_opt(year, 1, 1)
        .map(|d| d + chrono::Days::new(((i * 37) % 365) as u64))
        .filter(|d| d.year() == year);
    let mail_name: String = crate::resident::name_words(&format!("{given} {family}")).join(".");
    ResidentInput {
        given_name: given.to_owned(),
        family_name: family.to_owned(),
        birth_date: birth,
        email: Some(format!("{mail_name}@voorbeeld.nl")),
        phone: Some(format!("06-{:08}", 10_000_000 + (i * 7_919) % 89_999_999)),
        address: Some(format!("Dorpsstraat {}, {municipality}", 1 + i % 180)),
        municipality: Some(municipality.to_owned()),
        bsn: Some(bsn(i)),
    }
}

/// A made-up BSN that passes the 11-proef, different for every `i` (below ten million).
pub fn bsn(i: usize) -> Bsn {
    let mut n = 20_000_000 + (i as u64 * 9_973) % 70_000_000;
    loop {
        let digits: Vec<u64> = format!("{n:08}").bytes().map(|b| u64::from(b - b'0')).collect();
        let sum: u64 = digits.iter().zip((2..=9).rev()).map(|(d, w)| d * w).sum();
        let check = sum % 11;
        if check < 10
            && let Ok(b) = Bsn::parse(&format!("{n:08}{check}"))
        {
            return b;
        }
        n += 1;
    }
}

/// Records the `i`th made-up resident (without the BSN when no key is configured).
pub async fn add(engine: &Engine, i: usize, now: chrono::DateTime<chrono::Utc>) -> Result<Resident> {
    let mut input = resident(i);
    if engine.vault().is_none() {
        input.bsn = None;
    }
    engine.add_resident(&input, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_people_are_valid_and_different() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let mut bsns = std::collections::HashSet::new();
        let mut names = std::collections::HashSet::new();
        for i in 0..2_000 {
            let r = resident(i);
            assert!(r.check(today).is_ok(), "{i}: {:?}", r.check(today));
            assert!(bsns.insert(r.bsn.unwrap().expose().to_owned()), "BSN {i} repeats");
            if i < 24 * 26 {
                assert!(names.insert((r.given_name, r.family_name)), "name {i} repeats");
            }
        }
    }
}
