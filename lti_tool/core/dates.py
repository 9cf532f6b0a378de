"""Dates as people read them: one rule for every time the tool shows, and the time remaining.

The rule: a time is shown in the time zone of the term the work belongs to, and the zone is named — on the
pages, in the autosave message (the server writes it, so the browser's own zone plays no part) and in the CSV
exports (ISO 8601 with that zone's offset, and a column naming the zone). Pages and exports that list work
of a whole course or platform use the current term's zone; where there is no term at all, UTC, and they say
so. Every label comes from `local_datetime_label`; templates use its filter, `local_datetime`.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask

from lti_tool.core.models import utcnow

DEFAULT_TIME_ZONE = "UTC"
NO_TERM_REASON = "no term is set up"
# The styles of `local_datetime_label`: a sentence's full date, a table's cell, a date, a time of today.
STYLES = {
    "long": "%A, %-d %B %Y, %-I:%M %p %Z",
    "short": "%d %b %Y, %-I:%M %p %Z",
    "date": "%d %b %Y",
    "time": "%-I:%M %p %Z",
    "seconds": "%d %b %Y, %H:%M:%S %Z",
}
# Sentences and messages name the zone in full; a table's cells carry its abbreviation and the page names the zone
# once above the table (`zone_note`).
NAMED_STYLES = ("long", "time")


def zone_of(term) -> str:
    """The time zone a term's times are shown in (UTC when there is no term)."""
    return (getattr(term, "time_zone", None) or DEFAULT_TIME_ZONE) if term is not None else DEFAULT_TIME_ZONE


def zone_note(term) -> str:
    """The sentence a page listing many times shows once: which zone they are in, and why that one."""
    if term is None:
        return f"Times are in {DEFAULT_TIME_ZONE}: {NO_TERM_REASON}."
    return f"Times are in {zone_of(term)}, the time zone of the term {term.title}."


def in_zone(moment: datetime, time_zone: str | None) -> datetime:
    """The same instant on the clocks of `time_zone` (a naive moment is UTC, as the database keeps it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(DEFAULT_TIME_ZONE))
    return moment.astimezone(ZoneInfo(time_zone or DEFAULT_TIME_ZONE))


def local_datetime_label(moment: datetime | None, time_zone: str | None = DEFAULT_TIME_ZONE,
                         style: str = "long") -> str:
    """The one way a time is written for a person, in `time_zone`, with the zone named.

    'Tuesday, 15 June 2027, 11:59 PM EDT (America/New_York)' (long), '15 Jun 2027, 11:59 PM EDT' (short, a table's
    cell), '2:05 PM NZDT (Pacific/Auckland)' (time), '15 Jun 2027' (date: the date there).
    """
    if moment is None:
        return ""
    zone = time_zone or DEFAULT_TIME_ZONE
    text = in_zone(moment, zone).strftime(STYLES[style])
    return f"{text} ({zone})" if style in NAMED_STYLES and zone != DEFAULT_TIME_ZONE else text


def local_iso(moment: datetime | None, time_zone: str | None = DEFAULT_TIME_ZONE) -> str:
    """ISO 8601 with the offset of `time_zone` (for `<time datetime>` and the CSV exports); '' for no time."""
    return in_zone(moment, time_zone).isoformat() if moment is not None else ""


def time_remaining_label(moment: datetime | None, now: datetime | None = None) -> str:
    """'12 days 4 hours', '3 hours 5 minutes', or 'passed 2 days ago' — like Moodle's status panel."""
    if moment is None:
        return ""
    now = now or utcnow()
    seconds = int((moment - now).total_seconds())
    passed = seconds < 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = _plural(days, "day") + (f" {_plural(hours, 'hour')}" if hours else "")
    elif hours:
        text = _plural(hours, "hour") + (f" {_plural(minutes, 'minute')}" if minutes else "")
    else:
        text = _plural(max(minutes, 1 if seconds else 0), "minute")
    return f"passed {text} ago" if passed else text


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def init_app(app: Flask) -> None:
    app.add_template_filter(local_datetime_label, "local_datetime")
    app.add_template_filter(local_iso, "local_iso")
    app.add_template_filter(time_remaining_label, "time_remaining")


def add_business_days(start: datetime, days: int, holidays: frozenset[date] | set[date] = frozenset()) -> datetime:
    """`start` moved on by `days` working days: weekends and `holidays` (dates in UTC) are skipped.

    The time of day stays; a start on a weekend or holiday counts from the next working day.
    """
    moment = start
    remaining = days
    while remaining > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5 and moment.date() not in holidays:
            remaining -= 1
    return moment


def parse_holidays(values) -> frozenset[date]:
    """ISO dates from a list or a comma-separated string (`2026-12-25,2027-01-01`); ValueError names a bad one."""
    if isinstance(values, str):
        values = [v for v in (part.strip() for part in values.split(",")) if v]
    holidays = set()
    for value in values or ():
        try:
            holidays.add(value if isinstance(value, date) else date.fromisoformat(str(value)))
        except ValueError:
            raise ValueError(f"not a date (YYYY-MM-DD) in the holiday list: {value!r}") from None
    return frozenset(holidays)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later, on the month's last day when it has fewer (31 Jan + 1 = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))
