"""`flask --app wsgi catalog load|list|export`."""

from __future__ import annotations

import click

from lti_tool.catalog.schema import CatalogError
from lti_tool.catalog.services import export_catalog, list_microcredentials, load_catalog
from lti_tool.cli import catalog_cli
from lti_tool.extensions import db


@catalog_cli.command("load")
@click.option("--file", "path", type=click.Path(dir_okay=False), default=None,
              help="The catalog file (default: the CATALOG_FILE setting, config/catalog.yaml).")
@click.option("--if-empty", is_flag=True,
              help="Only when the database has no micro-credential yet (what `make run` does at every start, "
                   "so that admins' edits in the tool are kept).")
def catalog_load(path: str | None, if_empty: bool):
    """Load the catalog file into the database; safe to run again (micro-credentials left out are retired)."""
    if if_empty and list_microcredentials(include_retired=True):
        click.echo("the catalog is already loaded; kept as it is (run `flask catalog load` to reload the file)")
        return
    try:
        report = load_catalog(path)
    except CatalogError as error:
        db.session.rollback()
        raise click.ClickException("the catalog was not loaded:\n" + "\n".join(error.problems)) from None
    db.session.commit()
    click.echo(f"loaded {report.microcredential_count} micro-credentials, {report.term_count} terms")
    for label, slugs in (("new", report.created), ("updated", report.updated), ("retired", report.retired)):
        if slugs:
            click.echo(f"  {label}: {', '.join(slugs)}")


@catalog_cli.command("list")
@click.option("--all", "include_retired", is_flag=True, help="Include retired micro-credentials.")
def catalog_list(include_retired: bool):
    """List the micro-credentials: slug, title, status."""
    microcredentials = list_microcredentials(include_retired=include_retired)
    if not microcredentials:
        click.echo("the catalog is empty: run `flask catalog load`")
        return
    width = max(len(mc.slug) for mc in microcredentials)
    for mc in microcredentials:
        click.echo(f"{mc.slug:{width}}  {'retired' if mc.is_retired else 'active':7}  {mc.title}")


@catalog_cli.command("export")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file instead of standard output.")
def catalog_export(output: str | None):
    """Write the active catalog as YAML that `catalog load --file` accepts."""
    text = export_catalog()
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
        click.echo(f"exported to {output}")
    else:
        click.echo(text, nl=False)
