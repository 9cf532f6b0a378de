"""`flask --app wsgi storage migrate --to s3|local`: move stored files to another backend (submissions/storage_move)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from lti_tool.core.storage import BACKENDS, StorageNotConfigured, storage
from lti_tool.extensions import db

storage_cli = AppGroup("storage", help="Where uploaded files are kept: move them to another backend.")


@storage_cli.command("migrate")
@click.option("--to", "target", required=True, type=click.Choice(sorted(BACKENDS)),
              help="The backend every stored file should be on.")
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 10_000),
              help="Files verified before their rows are switched in one commit.")
@click.option("--dry-run", is_flag=True, help="Count what would be moved; change nothing.")
def storage_migrate(target: str, batch_size: int, dry_run: bool):
    """Copy every stored file to TARGET, verify its size and SHA-256, then switch its row; safe to run again."""
    from lti_tool.submissions.storage_move import count_files_to_move, move_files

    try:
        storage(target)
    except StorageNotConfigured as error:
        raise click.ClickException(f"{target} storage is not configured: {error}") from None
    count, size = count_files_to_move(target)
    db.session.rollback()
    if dry_run:
        click.echo(f"dry run: {count:,} file(s), {_mb(size)}, would be moved to {target}; nothing changed")
        return
    click.echo(f"moving {count:,} file(s), {_mb(size)}, to {target}, {batch_size} per commit")

    def progress(summary):
        done = summary.moved + len(summary.failed)
        seconds = max(summary.seconds, 1e-6)
        click.echo(f"  {done:,}/{count:,} files, {_mb(summary.bytes_done)}, "
                   f"{summary.moved / seconds:,.0f} files/s, {summary.bytes_copied / seconds / 1e6:,.1f} MB/s copied")

    summary = move_files(target, batch_size=batch_size, on_batch=progress)
    click.echo(f"{summary.copied:,} copied, {summary.already_there:,} already there, {len(summary.failed):,} failed; "
               f"{_mb(summary.bytes_copied)} copied in {summary.seconds:.1f} s")
    for failure in summary.failed:
        click.echo(f"  not moved: artifact {failure.artifact_id} ({failure.key}): {failure.reason}", err=True)
    if summary.stopped_because:
        click.echo(f"  stopped: {summary.stopped_because}", err=True)
    if not summary.is_complete:
        raise click.ClickException(
            "some files were not moved: their rows still name their old backend and the tool still serves them "
            "from there; fix what is said above and run the command again (files already moved are not copied "
            "again)")
    uploading_to = current_app.config.get("STORAGE_BACKEND") or "local"
    left, _ = count_files_to_move(target)
    db.session.rollback()
    if left:
        click.echo(f"{left:,} file(s) were uploaded to {uploading_to} during the move: run the command again.")
    if uploading_to != target:
        click.echo(f"Set STORAGE_BACKEND={target} and restart the web servers and workers so that new uploads go to "
                   f"{target} too; then run this command once more for what was uploaded meanwhile.")
    elif not left:
        click.echo(f"every stored file is on {target}, where new uploads go (STORAGE_BACKEND={target}).")


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"
