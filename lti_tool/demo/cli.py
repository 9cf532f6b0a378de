"""`flask --app wsgi demo setup`: register the demo LMS (development only)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

demo_cli = AppGroup("demo", help="The demo LMS (development only).")


@demo_cli.command("setup")
@click.option("--base-url", default=None,
              help="Origin the browser uses for /demo: `make run` passes the one it serves "
                   "(default: BASE_URL, else http://127.0.0.1:5000).")
def setup(base_url: str | None):
    """Register the demo platform with the tool (registration, deployment) and seed its course. Idempotent."""
    if not current_app.config.get("DEMO_ENABLED"):
        click.echo("The demo LMS is disabled in this configuration (DEMO_ENABLED is off): nothing to do.")
        return
    from lti_tool.demo import platform
    from lti_tool.extensions import db

    origin = base_url or current_app.config.get("BASE_URL") or platform.DEFAULT_ORIGIN
    issuer = platform.issuer_for(origin)
    registration, created = platform.ensure_registration(issuer)
    db.session.commit()
    platform.seed_course()
    click.echo(f"demo LMS {'registered' if created else 'up to date'}: issuer {registration.issuer}, "
               f"client id {platform.CLIENT_ID}, deployment id {platform.DEPLOYMENT_ID}")
    click.echo(f"open {issuer} to launch the tool")
