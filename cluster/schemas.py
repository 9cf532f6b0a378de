"""A PostgreSQL schema of one's own on a shared database: for a test or a load run that builds its own tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from config.settings import normalise_database_url


@contextmanager
def own_schema(database_url: str, prefix: str) -> Iterator[str]:
    """A new schema `<prefix>_<random>` on DATABASE_URL's database, dropped afterwards with all it holds: the URL
    that works in it (its `search_path`)."""
    base_url = sa.make_url(normalise_database_url(database_url))
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield base_url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
