"""A refusal changes nothing: `with nothing_changes(app): ...` fails when a row or a stored file differs afterwards.

A status code alone does not prove a refusal: a view can answer 403 after it has written (a commit before the
check, a file kept on disk, an outbox message queued). The snapshot covers every table of the schema (the
outbox and the mail outbox are tables too) and the upload storage, and the failure names what changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SHOWN_PER_TABLE = 5  # rows named in a failure message, per table and direction
STORAGE = "<upload storage>"


@contextmanager
def nothing_changes(app) -> Iterator[None]:
    """Fail when the block changed any table's rows or the files in upload storage."""
    before = snapshot(app)
    yield
    after = snapshot(app)
    if after != before:
        raise AssertionError("a refused request changed something:\n" + describe_changes(before, after))


def snapshot(app) -> dict[str, frozenset]:
    """Every table's rows (as text, so any column counts) and every stored file's name and size."""
    from lti_tool.extensions import db

    state: dict[str, frozenset] = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(db.select(table)).all()
            state[table.name] = frozenset(repr(tuple(row)) for row in rows)
        db.session.remove()
    state[STORAGE] = frozenset(_stored_files(app))
    return state


def _stored_files(app) -> Iterator[str]:
    root = Path(app.config.get("UPLOAD_DIR") or Path(app.instance_path) / "uploads")
    if not root.exists():
        return
    for path in root.rglob("*"):
        if path.is_file():
            yield f"{path.relative_to(root)} ({path.stat().st_size} bytes)"


def describe_changes(before: dict[str, frozenset], after: dict[str, frozenset]) -> str:
    """Per table: how many rows came and went, and the first few of each."""
    lines = []
    for name in before:
        added, removed = sorted(after[name] - before[name]), sorted(before[name] - after[name])
        if not added and not removed:
            continue
        unit = "files" if name == STORAGE else "rows"
        lines.append(f"{name}: {len(before[name])} -> {len(after[name])} {unit}")
        lines += [f"  + {row}" for row in added[:SHOWN_PER_TABLE]]
        lines += [f"  - {row}" for row in removed[:SHOWN_PER_TABLE]]
    return "\n".join(lines)
