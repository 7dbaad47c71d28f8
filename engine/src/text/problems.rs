//! Validation problems and migration refusals in Dutch, for the coordinator's screens.
//! The matches are exhaustive: a new problem kind cannot reach the screen untranslated.

use crate::pathway::definition::DefinitionError;
use crate::pathway::model::{KNOWN_OUTCOMES, KNOWN_WAIT_REASONS, StepKind};
use crate::pathway::validate::{PhaseProblem, ProblemKind};
use crate::runtime::{RuntimeError, TargetProblem};
use crate::text::messages::MessageProblem;

fn kind_nl(kind: &str) -> String {
    match kind {
        "start" => "startstap",
        "task" => "taak",
        "joint_visit" => "gezamenlijk bezoek",
        "wait" => "wachtstap",
        "automatic" => "automatische stap",
        "gateway" => "keuzepunt",
        "parallel_split" => "parallelle splitsing",
        "parallel_join" => "parallelle samenvoeging",
        "inclusive_split" => "inclusieve splitsing",
        "inclusive_join" => "inclusieve samenvoeging",
        "end" => "eindstap",
        other => return format!("`{other}`"),
    }
    .to_owned()
}

/// What is wrong with a phase, in Dutch.
fn phase_problem(problem: &PhaseProblem) -> String {
    use PhaseProblem as F;
    match problem {
        F::DuplicateId => "deze fase-id komt meer dan eens voor.".into(),
        F::Empty => "de fase heeft geen stappen.".into(),
        F::UnknownStep(id) => format!("noemt stap `{id}`, die niet bestaat."),
        F::InTwoPhases { step, other } => {
            format!(
                "stap `{step}` hoort ook bij fase `{other}`; fasen mogen in elkaar liggen, niet half over elkaar."
            )
        }
        F::StartInside(id) => format!("de startstap `{id}` kan niet in een fase liggen."),
        F::UnknownTarget(to) => format!("`on_deadline` verwijst naar stap `{to}`, die niet bestaat."),
        F::TargetInside(to) => {
            format!("`on_deadline` verwijst naar `{to}`, en die stap ligt in de fase zelf.")
        }
        F::NeedsDeadline(attr) => format!("`{attr}` werkt alleen met een `deadline` op de fase."),
        F::UnknownEscalationTarget { rung, to } => format!(
            "escalatiestap {rung} gaat naar `{to}`; dat is geen `responsible`, `team_lead`, `manager` of bekende rol."
        ),
    }
}

/// One validation problem in Dutch.
pub fn problem(kind: &ProblemKind) -> String {
    use ProblemKind as P;
    match kind {
        P::BadKey { key } => format!(
            "De sleutel `{key}` mag alleen kleine letters, cijfers, '-' en '_' bevatten (1 tot 64 tekens, beginnend met een letter of cijfer)."
        ),
        P::TooManySteps { count, limit } => {
            format!("Het traject heeft {count} stappen; hoogstens {limit} zijn toegestaan.")
        }
        P::BadRetention { years } => {
            format!("De bewaartermijn is {years} jaar; schrijf hele jaren van 1 tot en met 120.")
        }
        P::NoStart => "Het traject heeft geen startstap (een stap met `kind: start`).".into(),
        P::ManyStarts { ids } => format!(
            "Het traject heeft {} startstappen ({}); er mag er één zijn.",
            ids.len(),
            ids.join(", ")
        ),
        P::DuplicateId { id } => format!("De stap-id `{id}` komt meer dan eens voor."),
        P::UnknownKind { kind } => format!(
            "Onbekende soort stap `{kind}` (bekend: {}).",
            StepKind::KNOWN.join(", ")
        ),
        P::UnknownTarget { to } => format!("Verwijst naar stap `{to}`, die niet bestaat."),
        P::Unreachable { behind: 0 } => "Deze stap is vanaf de start niet te bereiken.".into(),
        P::Unreachable { behind } => format!(
            "Deze stap is vanaf de start niet te bereiken, en daardoor ook de {behind} stap(pen) erachter niet."
        ),
        P::Trap => "Vanaf hier is geen eindstap te bereiken: een casus zou vastzitten.".into(),
        P::CycleWithoutExit { cycle } => format!("De lus {} heeft geen uitweg.", cycle.join(" → ")),
        P::CycleWithoutHumanStep { cycle } => format!(
            "De lus {} heeft geen taak, wachtstap of bezoek: hij zou rondgaan zonder dat iemand iets doet.",
            cycle.join(" → ")
        ),
        P::UnmatchedJoin { kind, why } => format!("Deze {} sluit geen splitsing af: {why}.", kind_nl(kind)),
        P::SplitWithoutJoin { kind, join } => format!(
            "Deze {} heeft geen bijpassende {} die alle takken bereiken.",
            kind_nl(kind),
            kind_nl(join)
        ),
        P::UndeclaredRole { role } => format!("De rol `{role}` staat niet onder `roles`."),
        P::BadExpression { expr, message } => format!("De voorwaarde `{expr}` is niet te lezen: {message}."),
        P::UnknownVariable { expr, name } => format!(
            "De voorwaarde `{expr}` leest `{name}`, maar dat is geen trajectvariabele en geen formulierveld."
        ),
        P::MissingAttribute { kind, attribute } => {
            format!("Een {} heeft `{attribute}` nodig.", kind_nl(kind))
        }
        P::UnexpectedAttribute { kind, attribute } => {
            format!("`{attribute}` hoort niet bij een {}.", kind_nl(kind))
        }
        P::SuccessorCount { kind, count } => format!(
            "Een {} heeft precies één vervolgstap in `next` nodig; hier zijn het er {count}.",
            kind_nl(kind)
        ),
        P::TooFew {
            kind,
            what,
            min,
            count,
        } => format!(
            "Een {} heeft minstens {min} {what} nodig; hier zijn het er {count}.",
            kind_nl(kind)
        ),
        P::BadRung { rung } => format!("Trede {rung} bestaat niet op de participatieladder (1–6)."),
        P::NotADateField { what, name } => format!(
            "`{what}` noemt `{name}`, maar dat is geen datumveld van de casus (een formulierveld of trajectvariabele van het type date)."
        ),
        P::UnknownSummaryField { name } => {
            format!("`summary` noemt `{name}`, maar dat is geen trajectvariabele en geen formulierveld.")
        }
        P::UnknownStarter { role } => {
            format!("`started_by` noemt `{role}`, maar dat is geen rol van dit traject (zie `roles:`).")
        }
        P::UnpublishedPathway { key } => {
            format!("Deze stap start traject `{key}`, maar dat is niet gepubliceerd. Publiceer het eerst.")
        }
        P::BadMessageName { name } => format!(
            "De berichtnaam `{name}` mag alleen kleine letters, cijfers en `_` bevatten (1 tot 100 tekens)."
        ),
        P::UnknownOutcome { outcome } => format!(
            "Onbekende uitkomst `{outcome}` (bekend: {}).",
            KNOWN_OUTCOMES.join(", ")
        ),
        P::UnknownReason { reason } => format!(
            "Onbekende wachtreden `{reason}` (bekend: {}).",
            KNOWN_WAIT_REASONS.join(", ")
        ),
        P::ConflictingVariable { name, first, second } => {
            format!("De variabele `{name}` is zowel {first} als {second}.")
        }
        P::ChoiceWithoutOptions { name } => format!("Het keuzeveld `{name}` heeft geen `options`."),
        P::LabelForUnknownOption { name, option } => format!(
            "Veld `{name}` geeft in `option_labels` een naam voor `{option}`, maar dat is geen van zijn `options`."
        ),
        P::DuplicateField { name } => {
            format!("Het veld `{name}` staat twee keer in het formulier van deze stap.")
        }
        P::UndeclaredSetTarget { name } => {
            format!("`set` schrijft `{name}`, maar dat is geen variabele of formulierveld.")
        }
        P::UnknownEscalationTarget { rung, to } => format!(
            "Escalatiestap {rung} gaat naar `{to}`; dat is geen `responsible`, `team_lead`, `manager` of bekende rol."
        ),
        P::AmbiguousEscalation { rung } => {
            format!("Escalatiestap {rung} heeft zowel `before` als `after`.")
        }
        P::NeedsDeadline { attribute } => {
            format!("`{attribute}` werkt alleen met een `deadline` op de stap.")
        }
        P::Phase { phase, problem } => format!("Fase `{phase}`: {}", phase_problem(problem)),
        P::Message(m) => match m {
            MessageProblem::UnknownKind { kind } => {
                format!("`messages` noemt het onbekende soort bericht `{kind}`.")
            }
            MessageProblem::BadTemplate { kind, part, message } => {
                format!("Bericht `{kind}`, {part}: {message}")
            }
        },
    }
}

/// A file that cannot be read, in Dutch.
pub fn definition(e: &DefinitionError) -> String {
    match e {
        DefinitionError::Syntax {
            line,
            column,
            message,
        } => format!(
            "Regel {line}, kolom {column}: het bestand is geen geldig traject: {}",
            reader_nl(message)
        ),
        DefinitionError::Structure { message } => {
            format!("Het bestand is geen geldig traject: {}", reader_nl(message))
        }
        DefinitionError::Write { message } => format!("Het traject kon niet worden geschreven: {message}"),
        DefinitionError::TooLarge { bytes, limit } => format!(
            "Het bestand is {} groot; een trajectbestand mag hoogstens {} zijn.",
            crate::text::dutch::bytes(*bytes),
            crate::text::dutch::bytes(*limit)
        ),
        DefinitionError::TooDeep { line, limit } => format!(
            "Regel {line}: het bestand is dieper genest dan {limit} niveaus; zo diep gaat geen traject."
        ),
        DefinitionError::TooManySteps { count, limit } => {
            format!("Het traject heeft {count} stappen; hoogstens {limit} zijn toegestaan.")
        }
    }
}

/// The YAML reader's message in Dutch: its place (`steps[2].fields[0]` → `stap 3, veld 1`)
/// and the usual complaints of serde and the YAML scanner; anything else keeps its words
/// after a Dutch lead.
pub fn reader_nl(message: &str) -> String {
    let (place, what) = match message.split_once(": ") {
        Some((p, w)) if !p.contains(' ') => (Some(p), w),
        _ => (None, message),
    };
    let what = reader_complaint(what);
    match place.map(place_nl) {
        Some(p) => format!("{p}: {what}"),
        None => what,
    }
}

fn place_nl(path: &str) -> String {
    path.split('.')
        .map(|part| match part.split_once('[') {
            Some((name, rest)) => {
                let n = rest.trim_end_matches(']').parse::<usize>().map_or(0, |n| n + 1);
                let word = match name {
                    "steps" => "stap",
                    "fields" => "veld",
                    "branches" => "tak",
                    "escalations" => "escalatie",
                    "variables" => "variabele",
                    "provisions" => "voorziening",
                    other => other,
                };
                format!("{word} {n}")
            }
            None => format!("`{part}`"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn reader_complaint(what: &str) -> String {
    let quoted = |s: &str| s.split('`').nth(1).unwrap_or("").to_owned();
    let expected = |s: &str| s.split_once(", expected ").map(|(_, e)| e.to_owned());
    if let Some(rest) = what.strip_prefix("missing field ") {
        return format!("het veld {rest} ontbreekt");
    }
    if let Some(rest) = what.strip_prefix("duplicate field ") {
        return format!("het veld {rest} staat er twee keer");
    }
    for (english, unknown, choose) in [
        ("unknown field ", "onbekend veld", "mogelijk zijn"),
        ("unknown variant ", "onbekende waarde", "kies uit"),
    ] {
        if what.starts_with(english) {
            return match expected(what) {
                Some(e) => format!(
                    "{unknown} `{}`; {choose}: {}",
                    quoted(what),
                    e.trim_start_matches("one of ")
                ),
                None => format!("{unknown} `{}`", quoted(what)),
            };
        }
    }
    if let Some(rest) = what.strip_prefix("invalid type: ") {
        let (got, want) = rest.split_once(", expected ").unwrap_or((rest, "iets anders"));
        return format!(
            "hier hoort {}, maar er staat {}",
            kind_of_value(want),
            kind_of_value(got)
        );
    }
    if let Some(rest) = what.strip_prefix("invalid value: ") {
        let (got, want) = rest.split_once(", expected ").unwrap_or((rest, "iets anders"));
        return format!(
            "ongeldige waarde {}; verwacht: {}",
            kind_of_value(got),
            kind_of_value(want)
        );
    }
    if what.starts_with("data did not match any variant") {
        return "deze waarde heeft niet de vorm die hier hoort".into();
    }
    if what.starts_with("duplicate entry") {
        return format!(
            "de sleutel {} staat er twee keer",
            what.trim_start_matches("duplicate entry with key ")
        );
    }
    for (english, dutch) in [
        (
            "mapping values are not allowed",
            "een dubbele punt op een plek waar geen sleutel kan staan (inspringing of aanhalingstekens?)",
        ),
        (
            "did not find expected key",
            "hier werd een sleutel verwacht (klopt de inspringing?)",
        ),
        (
            "did not find expected '-' indicator",
            "hier werd een lijstregel met '-' verwacht (klopt de inspringing?)",
        ),
        (
            "found character that cannot start any token",
            "een teken waarmee niets kan beginnen (een tab? gebruik spaties)",
        ),
        (
            "found unexpected end of stream",
            "het bestand houdt onverwacht op (een aanhalingsteken niet gesloten?)",
        ),
        (
            "found unknown escape character",
            "een onbekende escape met '\\' tussen aanhalingstekens",
        ),
        (
            "while scanning a quoted scalar",
            "een aanhalingsteken is niet gesloten",
        ),
        ("recursion limit exceeded", "het bestand is te diep genest"),
    ] {
        if what.contains(english) {
            return dutch.to_owned();
        }
    }
    format!("de YAML is niet te lezen ({what})")
}

/// serde's name for a kind of value (`a string`, `integer `3``, `u32`), in Dutch.
fn kind_of_value(text: &str) -> String {
    let t = text.trim();
    let (head, rest) = t.split_once(' ').unwrap_or((t, ""));
    let word = match head {
        "string" | "a" if rest.starts_with("string") || head == "string" => "tekst",
        "integer" | "u8" | "u16" | "u32" | "u64" | "i32" | "i64" | "usize" => "een geheel getal",
        "floating" | "f64" | "f32" => "een getal",
        "boolean" => "ja/nee (true of false)",
        "sequence" => "een lijst",
        "map" => "een blok met sleutels",
        "unit" | "null" => "niets",
        "an" if rest.starts_with("integer") => "een geheel getal",
        "a" if rest.starts_with("sequence") => "een lijst",
        "a" if rest.starts_with("map") => "een blok met sleutels",
        "a" if rest.starts_with("boolean") => "ja/nee (true of false)",
        "struct" => "een blok met sleutels",
        _ => return format!("`{t}`"),
    };
    // A value serde quotes (`string "x"`, `integer `3``) keeps it.
    match rest.find(['"', '`']) {
        Some(i) if head != "a" && head != "an" => format!("{word} {}", &rest[i..]),
        _ => word.to_owned(),
    }
}

/// Why a BPMN file cannot be imported, in Dutch: elements by their name, their id second.
pub fn bpmn(e: &crate::bpmn::import::ImportError) -> Vec<String> {
    use crate::bpmn::import::ImportError as E;
    match e {
        E::Xml(m) => vec![format!("Het bestand is geen geldige XML: {m}")],
        E::NotBpmn(root) => vec![format!(
            "Het bestand is geen BPMN 2.0: het begint met `{root}` in plaats van `definitions`."
        )],
        E::NoProcess => vec!["Het bestand bevat geen proces.".into()],
        E::Unsupported(list) => {
            let mut out = vec![format!(
                "Het bestand gebruikt {} onderdeel/onderdelen die Doorloop niet ondersteunt; er is niets ingelezen:",
                list.len()
            )];
            out.extend(list.iter().map(crate::bpmn::import::Unsupported::dutch));
            out
        }
        E::Invalid(list) => {
            let mut out = vec!["Het proces kan niet worden ingelezen:".to_owned()];
            out.extend(list.iter().cloned());
            out
        }
    }
}

/// Why a case cannot be migrated, in Dutch; other refusals keep the engine's words.
pub fn migration(e: &RuntimeError) -> String {
    match e {
        RuntimeError::MigrationUnmapped { step, version } => format!(
            "Er staat werk op stap `{step}`, maar die is niet gekoppeld aan een stap van versie {version}."
        ),
        RuntimeError::MigrationTarget { step, target, why } => {
            let why = match why {
                TargetProblem::NoSuchStep { version } => format!("versie {version} heeft zo'n stap niet"),
                TargetProblem::CannotHoldWork { kind } => {
                    format!("bij een {} kan geen werk wachten", kind_nl(kind))
                }
                TargetProblem::SplitKind { split, kind } => format!(
                    "de takken van deze {} lopen nog; kies een stap van dezelfde soort, geen {}",
                    kind_nl(split),
                    kind_nl(kind)
                ),
            };
            format!("Werk op `{step}` kan niet naar `{target}`: {why}.")
        }
        RuntimeError::AlreadyOnVersion { version, .. } => format!("De casus loopt al op versie {version}."),
        RuntimeError::CaseClosed { status, .. } => format!("De casus is afgesloten ({status})."),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readers_complaints_read_in_dutch() {
        assert_eq!(
            reader_nl("steps[0]: unknown field `nxt`, expected one of `id`, `next`"),
            "stap 1: onbekend veld `nxt`; mogelijk zijn: `id`, `next`"
        );
        assert_eq!(reader_nl("missing field `name`"), "het veld `name` ontbreekt");
        assert_eq!(
            reader_nl("steps[2].fields[0]: invalid type: string \"x\", expected a boolean"),
            "stap 3, veld 1: hier hoort ja/nee (true of false), maar er staat tekst \"x\""
        );
        assert_eq!(
            reader_nl("steps[0]: data did not match any variant of untagged enum Shape"),
            "stap 1: deze waarde heeft niet de vorm die hier hoort"
        );
        assert!(reader_nl("mapping values are not allowed in this context").contains("dubbele punt"));
        assert!(reader_nl("something new").starts_with("de YAML is niet te lezen"));
    }

    #[test]
    fn problems_read_in_dutch() {
        assert_eq!(
            problem(&ProblemKind::UnknownTarget { to: "x".into() }),
            "Verwijst naar stap `x`, die niet bestaat."
        );
        assert!(
            problem(&ProblemKind::UnmatchedJoin {
                kind: "parallel_join".into(),
                why: "x".into()
            })
            .contains("samenvoeging")
        );
        assert!(
            migration(&RuntimeError::MigrationUnmapped {
                step: "s".into(),
                version: 2
            })
            .contains("versie 2")
        );
    }
}
