"""Flask commands: `flask --app wsgi platforms|keys|catalog|worker|storage ...`."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

platforms_cli = AppGroup("platforms", help="Register LMS platforms (manual registration, invites).")
keys_cli = AppGroup("keys", help="The tool's signing keys: ensure, list, rotate, retire.")
catalog_cli = AppGroup("catalog", help="Load, list and export the micro-credential catalog.")


@keys_cli.command("ensure")
def keys_ensure():
    """Generate the first key pair if keys/ has none."""
    from lti_tool.core.keys import key_store

    key = key_store().ensure()
    click.echo(f"signing key: {key.kid}")


@keys_cli.command("list")
def keys_list():
    """List every key with its status."""
    from lti_tool.core.keys import key_store

    for key in key_store().keys():  # noqa: SIM118  (a KeyStore, not a dict)
        click.echo(f"{key.kid}  {key.status:9}  {key.created_at}")


@keys_cli.command("rotate")
def keys_rotate():
    """Add a new signing key; the old one stays published until `keys retire`."""
    from lti_tool.core.keys import key_store

    key = key_store().rotate()
    click.echo(f"new signing key: {key.kid}")


# A kid is base64url and may start with "-": it must not be read as an option.
@keys_cli.command("retire", context_settings={"ignore_unknown_options": True})
@click.argument("kid")
def keys_retire(kid: str):
    """Stop publishing an old key."""
    from lti_tool.core.keys import KeyStoreError, key_store

    try:
        key_store().retire(kid)
    except KeyStoreError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"retired {kid}")


def init_app(app: Flask) -> None:
    # Each package keeps its own commands next to its services; this module only gathers them.
    from lti_tool.catalog import cli as catalog_commands  # noqa: F401  (adds to catalog_cli)
    from lti_tool.demo.cli import demo_cli
    from lti_tool.gradebook.cli import worker_command
    from lti_tool.lti import registration_cli  # noqa: F401  (adds to platforms_cli)
    from lti_tool.submissions.cli import storage_cli

    for group in (platforms_cli, keys_cli, catalog_cli, demo_cli, storage_cli):
        app.cli.add_command(group)
    app.cli.add_command(worker_command)
