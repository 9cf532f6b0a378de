"""Small database helpers used by services."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from lti_tool.extensions import db


def get_or_create(model, lookup: dict, defaults: dict | None = None):
    """The row matching `lookup`, created (with `defaults`) when missing; safe when two requests race.

    The insert runs in a savepoint: when another transaction inserted the same unique key first,
    the savepoint rolls back and the winner's row is returned. Flushes, never commits.
    """
    query = db.select(model).filter_by(**lookup)
    row = db.session.scalar(query)
    if row is not None:
        return row, False
    try:
        with db.session.begin_nested():
            row = model(**lookup, **(defaults or {}))
            db.session.add(row)
        return row, True
    except IntegrityError:
        return db.session.scalar(query), False


def text_order(expression):
    """A column or expression to sort text by: case-insensitive, by code point whatever the database's collation
    (PostgreSQL's locale would ignore the punctuation that Python's order keeps). SQLite's `lower()` folds ASCII
    letters only, so there accented capitals sort apart from their small letters."""
    lowered = func.lower(expression)
    return lowered.collate("C") if db.session.get_bind().dialect.name == "postgresql" else lowered
