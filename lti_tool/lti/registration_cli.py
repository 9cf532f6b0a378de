"""`flask --app wsgi platforms add|list|remove|invite|catalog-manager`: manual registration and registration invites."""

from __future__ import annotations

import click

from lti_tool.cli import platforms_cli
from lti_tool.core.errors import DomainError
from lti_tool.extensions import db


def _fail(error: DomainError):
    db.session.rollback()
    raise click.ClickException(error.message)


@platforms_cli.command("add")
@click.option("--issuer", required=True, help="The platform's issuer (iss), e.g. https://moodle.example.edu")
@click.option("--client-id", required=True, help="The client id the platform gave the tool.")
@click.option("--login-url", required=True, help="The platform's OIDC authorization (auth login) URL.")
@click.option("--token-url", required=True, help="The platform's OAuth 2 access token URL.")
@click.option("--jwks-url", required=True, help="The platform's public keyset URL.")
@click.option("--audience", default=None, help="The token audience when it differs from the token URL (Canvas).")
@click.option("--deployment", "deployments", multiple=True, help="A deployment id (repeat for several).")
@click.option("--name", default=None, help="A name to recognise the platform by.")
def platforms_add(issuer, client_id, login_url, token_url, jwks_url, audience, deployments, name):
    """Register a platform by hand (or add deployments to an existing registration)."""
    from lti_tool.lti.registration import register_platform

    try:
        registration = register_platform(
            issuer=issuer,
            client_id=client_id,
            auth_login_url=login_url,
            auth_token_url=token_url,
            key_set_url=jwks_url,
            auth_audience=audience,
            deployment_ids=list(deployments),
            name=name,
        )
    except DomainError as error:
        _fail(error)
    db.session.commit()
    deployment_ids = ", ".join(d.deployment_id for d in registration.deployments) or "none"
    click.echo(f"registration {registration.id}: {registration.issuer} client {registration.client_id} "
               f"(deployments: {deployment_ids})")


@platforms_cli.command("list")
def platforms_list():
    """List every registration with its deployments."""
    from lti_tool.lti.registration import list_registrations

    registrations = list_registrations()
    if not registrations:
        click.echo("no platforms registered")
        return
    for r in registrations:
        state = "active" if r.is_active else "inactive"
        catalog = ", manages the catalog" if r.manages_catalog else ""
        click.echo(f"{r.id}  {r.name}  {state}{catalog}")
        click.echo(f"    issuer     {r.issuer}")
        click.echo(f"    client id  {r.client_id}")
        click.echo(f"    login      {r.auth_login_url}")
        audience = f"  (audience {r.auth_audience})" if r.auth_audience else ""
        click.echo(f"    token      {r.auth_token_url}{audience}")
        click.echo(f"    jwks       {r.key_set_url or '(key set stored)'}")
        for d in r.deployments:
            click.echo(f"    deployment {d.deployment_id}" + ("" if d.is_active else "  (inactive)"))


@platforms_cli.command("remove")
@click.argument("registration_id", type=int, required=False)
@click.option("--issuer", default=None)
@click.option("--client-id", default=None)
@click.option("--purge", is_flag=True,
              help="Delete the registration and everything launched through it, educators' work included.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def platforms_remove(registration_id, issuer, client_id, purge, yes):
    """Switch a registration off (launches refused, work kept); with --purge, delete it and all its data."""
    from lti_tool.lti.registration import deactivate_platform, find_registration_to_remove, remove_platform

    try:
        registration = find_registration_to_remove(registration_id, issuer, client_id)
    except DomainError as error:
        _fail(error)
    label = f"{registration.issuer} client {registration.client_id}"
    if purge:
        if not yes:
            click.confirm(f"Delete {label} with its deployments, courses, launches AND every educator's "
                          "submissions and files made through it? This cannot be undone.", abort=True)
        remove_platform(registration)
        db.session.commit()
        click.echo(f"deleted {label} and everything launched through it")
        return
    if not yes:
        click.confirm(f"Switch off {label}? Its launches will be refused; its data is kept.", abort=True)
    deactivate_platform(registration)
    db.session.commit()
    click.echo(f"switched off {label}; its data is kept (`platforms add` with the same issuer and client id "
               "switches it on again, `remove --purge` deletes it)")


@platforms_cli.command("invite")
@click.option("--expires-hours", default=24.0, show_default=True, type=float, help="How long the URL stays valid.")
@click.option("--note", default=None, help="Who the invite is for (kept with it).")
def platforms_invite(expires_hours, note):
    """Print a single-use, expiring dynamic registration URL (needed when registration is not open)."""
    from flask import current_app

    from lti_tool.lti.registration import create_invite

    try:
        invite, token = create_invite(expires_hours=expires_hours, note=note)
    except DomainError as error:
        _fail(error)
    db.session.commit()
    base = (current_app.config.get("BASE_URL") or "").rstrip("/")
    if not base:
        click.echo("warning: BASE_URL is not set; prefix the path below with the tool's public origin", err=True)
    click.echo(f"{base}/lti/register?invite={token}")
    click.echo(f"single use, expires {invite.expires_at.isoformat()}", err=True)


@platforms_cli.command("catalog-manager")
@click.argument("registration_id", type=int)
@click.option("--on/--off", "manages", default=True, show_default=True,
              help="Whether this platform's admins may manage the catalog that every platform shares.")
def platforms_catalog_manager(registration_id, manages):
    """Trust (or stop trusting) one platform's admins with the shared catalog."""
    from lti_tool.lti.registration import find_registration_to_remove, set_catalog_manager

    try:
        registration = set_catalog_manager(find_registration_to_remove(registration_id), manages)
    except DomainError as error:
        _fail(error)
    db.session.commit()
    verb = "may now manage" if manages else "may no longer manage"
    click.echo(f"{registration.name}: its admins {verb} the catalog")
