//! Calendar invitations (iCalendar, RFC 5545 / iTIP RFC 5546) for joint visits.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Europe::Amsterdam;
use icalendar::{Calendar, CalendarDateTime, Component, Event, EventLike, Property};

/// Europe/Amsterdam as a VTIMEZONE, so agendas read the local time without guessing. Written
/// as fixed text: the `icalendar` crate gives every component it writes a UID and a DTSTAMP,
/// which RFC 5545 does not allow in a VTIMEZONE (Outlook refuses such an invitation).
const AMSTERDAM: &str = "BEGIN:VTIMEZONE\r
TZID:Europe/Amsterdam\r
BEGIN:DAYLIGHT\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
TZNAME:CEST\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
END:DAYLIGHT\r
BEGIN:STANDARD\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
TZNAME:CET\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
END:STANDARD\r
END:VTIMEZONE\r
";

/// What an invitation says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite<'a> {
    /// Stable per visit: `{case}-{task}@doorloop`; updates and cancellations reuse it.
    pub uid: &'a str,
    /// The visit's revision: agendas replace an older invitation by a newer one.
    pub sequence: u32,
    pub start: DateTime<Utc>,
    pub minutes: i64,
    pub summary: &'a str,
    pub location: &'a str,
    pub description: &'a str,
    pub organizer: &'a str,
    pub attendees: &'a [String],
    pub cancelled: bool,
    pub stamp: DateTime<Utc>,
}

/// The invitation as iCalendar text: METHOD:REQUEST for a new or moved visit, METHOD:CANCEL
/// for one that no longer concerns the recipient.
pub fn visit_invite(invite: &Invite<'_>) -> String {
    let mut calendar = Calendar::empty();
    calendar.append_property(Property::new("VERSION", "2.0"));
    calendar.append_property(Property::new("PRODID", "-//Doorloop//Doorloop//NL"));
    calendar.append_property(Property::new("CALSCALE", "GREGORIAN"));
    calendar.append_property(Property::new(
        "METHOD",
        if invite.cancelled { "CANCEL" } else { "REQUEST" },
    ));
    let local = |t: DateTime<Utc>| CalendarDateTime::WithTimezone {
        date_time: t.with_timezone(&Amsterdam).naive_local(),
        tzid: "Europe/Amsterdam".into(),
    };
    let mut event = Event::new();
    event
        .uid(invite.uid)
        .sequence(invite.sequence)
        .timestamp(invite.stamp)
        .starts(local(invite.start))
        .ends(local(invite.start + Duration::minutes(invite.minutes)))
        .summary(invite.summary)
        .location(invite.location)
        .description(invite.description)
        .append_property(Property::new("ORGANIZER", format!("mailto:{}", invite.organizer)));
    if invite.cancelled {
        event.status(icalendar::EventStatus::Cancelled);
    }
    for a in invite.attendees {
        let mut p = Property::new("ATTENDEE", format!("mailto:{a}"));
        p.add_parameter("ROLE", "REQ-PARTICIPANT")
            .add_parameter("PARTSTAT", "NEEDS-ACTION")
            .add_parameter("RSVP", "TRUE");
        event.append_multi_property(p);
    }
    calendar.push(event.done());
    let text = calendar.done().to_string();
    // The zone goes before the event, after the calendar's own properties.
    match text.find("BEGIN:VEVENT") {
        Some(at) => format!("{}{AMSTERDAM}{}", &text[..at], &text[at..]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use icalendar::{CalendarComponent, DatePerhapsTime};

    #[test]
    fn invitation_parses_back_with_local_start() {
        // 25 November 2026, 10:00 in Amsterdam is 09:00 UTC.
        let start = Utc
            .with_ymd_and_hms(2026, 11, 25, 9, 0, 0)
            .single()
            .unwrap_or_default();
        let attendees = vec!["a@example.org".to_owned(), "b@example.org".to_owned()];
        let text = visit_invite(&Invite {
            uid: "c1-t2@doorloop",
            sequence: 2,
            start,
            minutes: 60,
            summary: "Gezamenlijk bezoek",
            location: "Stadskantoor; kamer 3, \"B\"",
            description: "Casus c1",
            organizer: "doorloop@example.org",
            attendees: &attendees,
            cancelled: false,
            stamp: start,
        });
        let parsed: Calendar = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(parsed.property_value("METHOD"), Some("REQUEST"));
        let event = parsed
            .components
            .iter()
            .find_map(|c| match c {
                CalendarComponent::Event(e) => Some(e),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no event in\n{text}"));
        assert_eq!(event.get_uid(), Some("c1-t2@doorloop"));
        assert_eq!(event.get_sequence(), Some(2));
        assert_eq!(event.get_location(), Some("Stadskantoor; kamer 3, \"B\""));
        match event.get_start() {
            Some(DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid })) => {
                assert_eq!(tzid, "Europe/Amsterdam");
                assert_eq!(date_time.to_string(), "2026-11-25 10:00:00");
            }
            other => panic!("unexpected DTSTART {other:?}"),
        }
        assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"), "{text}");
        let zone = &text[text.find("BEGIN:VTIMEZONE").unwrap_or(0)..text.find("END:VTIMEZONE").unwrap_or(0)];
        assert!(zone.contains("TZID:Europe/Amsterdam"), "{text}");
        assert!(!zone.contains("UID") && !zone.contains("DTSTAMP"), "{text}");
        assert!(text.find("END:VTIMEZONE") < text.find("BEGIN:VEVENT"), "{text}");
        assert_eq!(text.matches("ATTENDEE").count(), 2);
    }
}
