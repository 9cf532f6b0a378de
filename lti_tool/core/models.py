"""Mixins shared by every model."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCTimestamp(TypeDecorator):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given: use an aware UTC datetime")
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow, onupdate=utcnow, nullable=False)


def render_migration_type(type_, obj, autogen_context):
    """Alembic `render_item`: write our column types as plain SQLAlchemy types in migrations."""
    if type_ == "type" and isinstance(obj, UTCTimestamp):
        return "sa.DateTime(timezone=True)"
    return False
