"""`flask --app wsgi worker`: send the outbox to the LMS."""

import click


@click.command("worker")
def worker_command():
    """Send outbox messages to the LMS until stopped."""
    raise click.ClickException("not built yet")
