"""Row ids as they arrive in URLs, query strings and forms: whole numbers a database column can hold.

Ids are 64-bit signed integers on PostgreSQL (BIGINT) and SQLite (INTEGER). A larger number sent by anyone
(2^63, 10^30) would reach the database and fail there with a 500 (SQLite: OverflowError; PostgreSQL:
NumericValueOutOfRange), so it is refused at the edge instead: in a URL it matches no route (404), in a query
string or a form `parse_id` reads it as no id at all.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

MAX_ID = 2**63 - 1  # the largest value of a signed 64-bit column


class IdConverter(IntegerConverter):
    """Flask's `int` converter bounded to the signed 64-bit range: `<int:id>` beyond it is a 404, never a 500.

    The 404 is raised here rather than by failing the match (werkzeug's ValidationError): a failed match where
    another method of the same path exists would answer 405, which says the address exists.
    """

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            raise NotFound()
        return number


def parse_id(text: str | None) -> int | None:
    """An id (or a version number) sent in a query string or a form: decimal digits that fit a 64-bit column.

    None for anything else (missing, a sign, letters, 2^63 or more): the caller answers 'not found' or asks for the
    form again, and the number never reaches the database.
    """
    text = (text or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_ID)):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def init_app(app: Flask) -> None:
    """Replace the `int` converter before any route is added (rules take their converter when they are added)."""
    app.url_map.converters["int"] = IdConverter
