"""`/`: what the tool is, and links that fit the settings — the demo LMS in development only, the catalog, the
registration URLs. Every link on the page is followed over real HTTP and answers 200."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace
from urllib.parse import urljoin

import pytest
import requests

from config.settings import normalise_database_url
from lti_tool import create_app
from lti_tool.extensions import db
from tests import conftest

TITLES = ("Educator Self-Assessment and Professional Growth", "Providing Feedback to Promote Learning")


def serve(tmp_path_factory, settings: str, *, catalog: bool = True, base_url: bool = True, **settings_overrides):
    """The app with `settings` over real HTTP on loopback, its schema migrated, a key made, the catalog loaded;
    BASE_URL is the server's origin, or unset (development only) when `base_url` is False."""
    overrides = conftest.test_overrides(tmp_path_factory)
    overrides["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(overrides["SQLALCHEMY_DATABASE_URI"])
    overrides.update(OUTBOX_RUN_IN_THREAD=False, **settings_overrides)
    if base_url:
        overrides["BASE_URL"] = "http://127.0.0.1"  # production needs one to start; the server's origin is set below
    app = create_app(settings, overrides)
    conftest.prepare_database(app)
    with app.app_context():
        from lti_tool.core.keys import key_store

        key_store().ensure()
    server = conftest.LiveServer(app).start()
    if base_url:
        app.config["BASE_URL"] = server.url
    if catalog:
        result = app.test_cli_runner().invoke(args=["catalog", "load"])
        assert result.exit_code == 0, result.output
    yield SimpleNamespace(app=app, url=server.url)
    server.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def development(tmp_path_factory):
    yield from serve(tmp_path_factory, "development")


@pytest.fixture
def production(tmp_path_factory):
    yield from serve(tmp_path_factory, "production")


@pytest.fixture
def production_without_catalog(tmp_path_factory):
    yield from serve(tmp_path_factory, "production", catalog=False)


def _links(page: str) -> dict[str, str]:
    """Each link's text (tags stripped) -> its href."""
    found = re.findall(r'<a\b[^>]*href="([^"]+)"[^>]*>(.*?)</a>', page, re.S)
    return {" ".join(re.sub(r"<[^>]+>", "", text).split()): html.unescape(href) for href, text in found}


def _follow_every_link(base: str, links: dict[str, str]) -> None:
    for text, href in links.items():
        url = urljoin(base + "/", href)
        assert url.startswith(base + "/"), f"{text!r} leaves the tool: {url}"
        response = requests.get(url, timeout=10)
        assert response.status_code == 200, f"{text!r} -> {url}: {response.status_code}"


def test_development_links_the_demo_the_catalog_and_the_registration_pages(development):
    response = requests.get(development.url + "/", timeout=10)
    assert response.status_code == 200
    page = response.text
    assert "LTI 1.3 tool" in page
    links = _links(page)
    assert links["Open the demo course"] == "/demo/"
    for title in TITLES:
        assert links[title].startswith("/badges/achievements/")
    assert links["Every URL and scope, for manual registration"] == "/lti/config"
    assert links["The same as JSON"] == "/lti/config.json"
    assert links["The tool's public keys (JWKS)"] == development.url + "/lti/jwks"
    assert f'<code id="dynamic-registration-url">{development.url}/lti/register</code>' in page
    assert "needs an invite" not in page  # development registration is open
    _follow_every_link(development.url, links)

    demo = requests.get(development.url + "/demo", timeout=10)
    assert "Demo Course" in demo.text


def test_production_has_no_demo_link_and_says_registration_needs_an_invite(production):
    response = requests.get(production.url + "/", timeout=10)
    assert response.status_code == 200
    page = response.text
    links = _links(page)
    assert "/demo" not in page and "Open the demo course" not in links
    assert set(TITLES) <= set(links)
    assert "needs an invite" in page and "flask --app wsgi platforms invite" in page
    _follow_every_link(production.url, links)


def test_an_empty_catalog_says_how_to_load_it(production_without_catalog):
    page = requests.get(production_without_catalog.url + "/", timeout=10).text
    assert "The catalog is empty" in page and "flask --app wsgi catalog load" in page
    _follow_every_link(production_without_catalog.url, _links(page))
