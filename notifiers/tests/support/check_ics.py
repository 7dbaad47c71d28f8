"""Checks an invitation (iCalendar text on stdin) against RFC 5545 / RFC 5546 with an
independent parser, Debian's python3-icalendar, and prints what it read as JSON.

Exits with status 1 and the problems found on stderr when the text is not one an agenda
such as Outlook accepts: no VERSION:2.0, a UID or DTSTAMP inside the VTIMEZONE, a DTSTART
whose TZID has no VTIMEZONE, lines longer than 75 octets, bare LF line ends, ...
"""

import json
import sys

import icalendar

raw = sys.stdin.buffer.read()
problems = []

lines = raw.split(b"\r\n")
if lines and lines[-1] == b"":
    lines.pop()
else:
    problems.append("the text does not end with CRLF")
for n, line in enumerate(lines, 1):
    if b"\n" in line or b"\r" in line:
        problems.append(f"line {n} has a bare CR or LF")
    if len(line) > 75:
        problems.append(f"line {n} is {len(line)} octets long (at most 75)")

try:
    cal = icalendar.Calendar.from_ical(raw)
except Exception as e:  # the parser's own refusal is the finding
    print(f"does not parse: {e}", file=sys.stderr)
    sys.exit(1)

if cal.name != "VCALENDAR":
    problems.append(f"the outer component is {cal.name}")
for prop in ("VERSION", "PRODID", "METHOD"):
    if prop not in cal:
        problems.append(f"VCALENDAR lacks {prop}")
if str(cal.get("VERSION", "")) != "2.0":
    problems.append(f"VERSION is {cal.get('VERSION')!r}, not 2.0")
method = str(cal.get("METHOD", ""))
if method not in ("REQUEST", "CANCEL"):
    problems.append(f"METHOD {method!r} is not REQUEST or CANCEL")

zones = {}
for zone in cal.walk("VTIMEZONE"):
    for forbidden in ("UID", "DTSTAMP"):
        if forbidden in zone:
            problems.append(f"VTIMEZONE holds {forbidden}, which RFC 5545 does not allow there")
    tzid = str(zone.get("TZID", ""))
    if not tzid:
        problems.append("VTIMEZONE lacks TZID")
    parts = [c for c in zone.subcomponents if c.name in ("STANDARD", "DAYLIGHT")]
    if not parts:
        problems.append(f"VTIMEZONE {tzid} has no STANDARD or DAYLIGHT")
    for part in parts:
        for prop in ("DTSTART", "TZOFFSETFROM", "TZOFFSETTO"):
            if prop not in part:
                problems.append(f"{part.name} of {tzid} lacks {prop}")
        for forbidden in ("UID", "DTSTAMP"):
            if forbidden in part:
                problems.append(f"{part.name} of {tzid} holds {forbidden}")
    zones[tzid] = zone

events = list(cal.walk("VEVENT"))
if len(events) != 1:
    problems.append(f"{len(events)} VEVENTs instead of one")
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
event = events[0]
for prop in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SEQUENCE", "ORGANIZER", "SUMMARY"):
    if prop not in event:
        problems.append(f"VEVENT lacks {prop}")
if not event.get("ATTENDEE"):
    problems.append("VEVENT has no ATTENDEE")
if method == "CANCEL" and str(event.get("STATUS", "")) != "CANCELLED":
    problems.append("a CANCEL whose event is not STATUS:CANCELLED")
start = event.get("DTSTART")
tzid = start.params.get("TZID") if start is not None else None
if start is not None:
    if tzid is None:
        problems.append("DTSTART has no TZID")
    elif tzid not in zones:
        problems.append(f"DTSTART names TZID {tzid}, but no VTIMEZONE defines it")
stamp = event.get("DTSTAMP")
if stamp is not None and not stamp.to_ical().endswith(b"Z"):
    problems.append("DTSTAMP is not in UTC")

if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)

print(json.dumps({
    "method": method,
    "uid": str(event["UID"]),
    "sequence": int(event["SEQUENCE"]),
    "tzid": tzid,
    "start": start.dt.strftime("%Y-%m-%d %H:%M:%S"),
    "status": str(event.get("STATUS", "")),
    "attendees": len(event.get("ATTENDEE") if isinstance(event.get("ATTENDEE"), list) else [event.get("ATTENDEE")]),
}))
