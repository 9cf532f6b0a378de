"""Ids of 2^63 or more (beyond a 64-bit column) are 'not found', never a 500: in every URL with an `<int:…>` part,
without a launch, with the testing and the production settings; and where an id comes in a query string or a
form, behind a launch."""

from __future__ import annotations

import tempfile
import uuid

import pytest
from werkzeug.routing import IntegerConverter

from lti_tool import create_app

TOO_LARGE = (2**63, 10**30)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _rules_with_int_ids() -> list[tuple[str, str, str]]:
    """(endpoint, rule, method) for every route with an integer part, read from a fresh app's URL map."""
    with tempfile.TemporaryDirectory() as folder:  # nothing written into the project's instance folder
        app = create_app("testing", {"INSTANCE_PATH": folder, "SECRET_KEY": "collecting-routes", "CACHE_DIR": folder,
                                     "SQLALCHEMY_DATABASE_URI": "sqlite://", "DEMO_ENABLED": True})
    found = []
    for rule in app.url_map.iter_rules():
        if any(isinstance(c, IntegerConverter) for c in rule._converters.values()):
            found += [(rule.endpoint, rule.rule, m) for m in sorted(rule.methods & set(METHODS))]
    return found


RULES = _rules_with_int_ids()


def test_the_app_has_integer_routes_to_check():
    assert len({rule for _, rule, _ in RULES}) >= 10, RULES  # the walk below found the routes it is meant to


def _url(app, rule_text: str, too_large: int) -> str:
    """The rule's URL with every integer part set to `too_large` and every other part to a plausible value."""
    rule = next(r for r in app.url_map.iter_rules() if r.rule == rule_text)
    values = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, IntegerConverter):
            values[name] = too_large
        elif type(converter).__name__ == "UUIDConverter":
            values[name] = uuid.uuid4()
        elif type(converter).__name__ == "AnyConverter":
            values[name] = converter.regex.strip("()").split("|")[0].replace("\\", "")
        else:
            values[name] = "x"
    return app.url_map.bind("localhost").build(rule.endpoint, values, method=None, append_unknown=False)


def _settings_of(endpoint: str) -> list[str]:
    """The settings each route is checked with: the demo's routes exist only where the demo is enabled."""
    return ["demo"] if endpoint.startswith("demo.") else ["testing", "production"]


CASES = [(settings, endpoint, rule, method) for endpoint, rule, method in RULES for settings in _settings_of(endpoint)]


@pytest.fixture(scope="module")
def tools(app, tmp_path_factory):
    """The suite's app, and two more on its database whose errors become 500 pages as behind gunicorn: production
    settings, and the testing ones with the demo LMS (development)."""
    from lti_tool.extensions import db
    from tests.conftest import test_overrides

    overrides = {**test_overrides(tmp_path_factory), "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                 "PROPAGATE_EXCEPTIONS": False}
    apps = {"testing": app,
            "production": create_app("production", {**overrides, "BASE_URL": "https://mcb.example.edu"}),
            "demo": create_app("testing", {**overrides, "DEMO_ENABLED": True, "TESTING": False})}
    yield apps
    for application in (apps["production"], apps["demo"]):
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("too_large", TOO_LARGE, ids=["2^63", "10^30"])
@pytest.mark.parametrize(("settings", "endpoint", "rule", "method"), CASES,
                         ids=[f"{s}-{m} {r}" for s, _, r, m in CASES])
def test_an_id_beyond_64_bits_in_the_url_is_not_found(tools, settings, endpoint, rule, method, too_large):
    tool = tools[settings]
    assert endpoint in tool.view_functions
    url = _url(tool, rule, too_large)
    assert str(too_large) in url
    response = tool.test_client().open(url, method=method)
    assert response.status_code == 404, (url, response.status_code, response.get_data(as_text=True)[:300])


def test_the_largest_64_bit_id_still_reaches_the_view(app):
    """The bound is the column's: 2^63 - 1 is routed in every rule (then simply not found), no real id is cut off."""
    from lti_tool.core.ids import MAX_ID

    adapter = app.url_map.bind("localhost")
    for endpoint, rule, method in RULES:
        if endpoint.startswith("demo."):
            continue
        _, values = adapter.match(_url(app, rule, MAX_ID), method=method)
        assert MAX_ID in values.values(), rule


# -- ids in query strings and forms, behind a launch -------------------------------------------------------------
HUGE = str(2**63)


def _rows(app) -> dict:
    """What a refused request must leave as it was: every table's rows and the stored files."""
    from tests.nothing_changed import snapshot

    return snapshot(app)


@pytest.mark.usefixtures("running_term")
def test_an_educators_form_with_an_id_beyond_64_bits_is_refused_and_changes_nothing(app, platform):
    from tests.assessment_road import SLUG, form_fields, origin_of
    from tests.platform.browser import PlatformBrowser

    browser = PlatformBrowser(platform)
    page = browser.launch(person="learner", custom={"microcredential": SLUG}).response
    fields = form_fields(page, "attempt-form")
    tool = origin_of(page)
    before = _rows(app)

    for attempt_id, version in ((HUGE, fields["version"]), (str(10**30), fields["version"]),
                                (fields["attempt_id"], HUGE)):
        saved = browser.post(tool + "/submission/", data={
            "ltik": fields["ltik"], "attempt_id": attempt_id, "version": version, "action": "save",
            "overview": "Typed text"}, allow_redirects=False)
        assert saved.status_code in (400, 404, 409), (attempt_id, version, saved.status_code)
    linked = browser.post(tool + "/submission/links", data={"ltik": fields["ltik"], "attempt_id": HUGE,
                                                            "artifact_url": "https://example.org/plan"})
    uploaded = browser.post(tool + "/artifacts/upload", params={"attempt_id": HUGE}, data=b"%PDF-1.4\n%%EOF\n",
                            headers={"Content-Type": "application/octet-stream", "X-Launch-Token": fields["ltik"],
                                     "X-File-Name": "plan.pdf", "Accept": "application/json"})
    resubmitted = browser.post(tool + "/submission/resubmit", data={"ltik": fields["ltik"], "attempt_id": HUGE,
                                                                    "action": "resubmit"})
    for answer in (linked, uploaded, resubmitted):
        assert answer.status_code in (400, 404), (answer.url, answer.status_code, answer.text[:300])
    assert _rows(app) == before


@pytest.mark.usefixtures("running_term")
def test_assessor_and_admin_pages_with_ids_beyond_64_bits_answer_without_an_error(app, platform):
    from tests.assessment_road import SLUG, assessment_ids, form_fields, launch_assessor, open_assessment, submit_work
    from tests.platform.browser import PlatformBrowser

    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    assessor = launch_assessor(platform, "assessor")
    page = open_assessment(assessor, assessment_id)
    assert page.status_code == 200
    fields = form_fields(page, "scoring-form")
    before = _rows(app)

    for name in ("microcredential", "page"):
        queue = assessor.browser.get(f"{assessor.tool}/assessment/", params={"ltik": assessor.ltik, name: HUGE})
        assert queue.status_code == 200, (name, queue.status_code)
    for scoring_id, version in ((HUGE, fields["version"]), (fields["scoring_id"], HUGE)):
        for path in (f"/assessment/{assessment_id}", f"/assessment/{assessment_id}/autosave"):
            saved = assessor.browser.post(assessor.tool + path, data={
                "ltik": fields["ltik"], "scoring_id": scoring_id, "version": version, "action": "save"})
            assert saved.status_code in (400, 404, 409), (path, scoring_id, version, saved.status_code)
    assert _rows(app) == before

    admin = PlatformBrowser(platform)
    landing = admin.launch(person="admin", custom={"microcredential": SLUG})
    tool = "/".join(landing.url.split("/", 3)[:3])
    before = _rows(app)  # the admin's launch is recorded: what follows must change nothing
    for path, data in ((f"/assessment/{assessment_id}/reassign", {"assessor_id": HUGE}),
                       ("/assessment/release", {"assessment_id": HUGE}),
                       ("/assessment/assessors", {"action": "grant", "user_id": HUGE, "microcredential_id": HUGE}),
                       ("/assessment/assessors", {"action": "revoke", "grant_id": HUGE})):
        answer = admin.post(tool + path, data={"ltik": landing.ltik, **data})
        assert answer.status_code in (400, 404), (path, data, answer.status_code, answer.text[:300])
    for path, params in (("/admin/issuers/", {"done": "created", "issuer": HUGE}),
                         ("/admin/badges/", {"page": HUGE, "microcredential": HUGE}),
                         ("/progress/", {"page": HUGE, "synced": HUGE})):
        answer = admin.get(tool + path, params={"ltik": landing.ltik, **params})
        assert answer.status_code == 200, (path, params, answer.status_code, answer.text[:300])
    assert _rows(app) == before
