"""Dates as the seeds show them: the local date and time with its zone, and the time remaining."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask

from lti_tool.core.models import utcnow


def local_datetime_label(moment: datetime | None, time_zone: str = "UTC") -> str:
    """'Tuesday, 15 June 2027, 11:59 PM EDT' in the term's time zone."""
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(time_zone or "UTC"))
    return local.strftime("%A, %-d %B %Y, %-I:%M %p %Z")


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
