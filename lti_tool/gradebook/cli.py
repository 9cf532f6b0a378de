"""`flask --app wsgi worker`: send the outbox to the LMS."""

from __future__ import annotations

import signal
import threading

import click
from flask import current_app


@click.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then stop.")
def worker_command(once: bool):
    """Send outbox messages to the LMS until stopped (any number of workers may run side by side)."""
    from lti_tool.gradebook import worker

    app = current_app._get_current_object()
    if once:
        total = 0
        while claimed := worker.run_once(app):
            total += claimed
        click.echo(f"{total} message(s) handled")
        return
    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo("outbox worker running (Ctrl+C to stop)")
    worker.run_forever(app, stop)
    click.echo("outbox worker stopped")
