"""The short launch path, through real HTTP from the independent platform: what it skips, and what it still checks.

- state and nonce belong together: one login's id_token never completes another login's state;
- the launch answers 303 with the address of the page the person lands on (no /lti/home hop);
- pylti1p3's launch data is kept for deep linking launches only;
- a launch whose claims were recorded moments ago writes nothing, yet its duties are worked out again;
- registrations and deployments are kept in each process for seconds, yet a registration switched off (through
  the tool or straight in the database) is refused at its very next launch.
"""

from __future__ import annotations

from contextlib import contextmanager
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import event

from tests.nothing_changed import nothing_changes
from tests.platform.platform import LTI

SLUG = "self-assessment-growth"


def _payload(app, location: str) -> dict:
    """The launch context a redirect's `ltik` carries (read as the tool reads it, without the session checks)."""
    token = parse_qs(urlsplit(location).query)["ltik"][0]
    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="lti-launch-reference").loads(token)


def _post(browser, **plan):
    """Login, platform, and the launch POST, not followed: the tool's 303."""
    login, _ = browser.platform.next_launch(**plan)
    id_token, state = browser.authorize(browser.start_login(login))
    return browser.post_launch(id_token, state, follow=False)


@contextmanager
def _statements(app):
    """The SQL statements the tool runs meanwhile (the live tool serves from this process)."""
    from lti_tool.extensions import db

    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _writes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.split(" ", 1)[0] in ("INSERT", "UPDATE", "DELETE")]


# -- state and nonce belong together ---------------------------------------------------------------------
def test_an_id_token_of_one_login_is_refused_with_the_state_of_another(app, browser, platform):
    """Two logins in the same browser (both state cookies present): A's id_token posted with B's state."""
    login_a, _ = platform.next_launch()
    id_token_a, state_a = browser.authorize(browser.start_login(login_a))
    login_b, _ = platform.next_launch()
    _, state_b = browser.authorize(browser.start_login(login_b))

    with nothing_changes(app):
        crossed = browser.post_launch(id_token_a, state_b, follow=False)
    assert crossed.status_code == 401
    assert "nonce" in crossed.text

    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser

    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(LtiUser)) == 0
    assert browser.post_launch(id_token_a, state_a, follow=False).status_code == 303  # A with its own state


def test_a_state_serves_one_launch_even_with_a_fresh_id_token_of_the_same_login(app, browser, platform):
    login, _ = platform.next_launch()
    id_token, state = browser.authorize(browser.start_login(login))
    assert browser.post_launch(id_token, state, follow=False).status_code == 303
    with nothing_changes(app):
        again = browser.post_launch(id_token, state, follow=False)
    assert again.status_code == 401


# -- straight to the page --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("person", "custom", "path"),
    [
        ("learner", {"microcredential": SLUG}, "/submission/"),
        ("instructor", None, "/lti/bind"),
        ("learner", None, "/lti/home"),  # not set up yet: /lti/home says so
    ],
)
def test_the_launch_answers_with_the_page_the_person_lands_on(browser, catalog, person, custom, path):
    launched = _post(browser, person=person, **({"custom": custom} if custom else {}))
    assert launched.status_code == 303
    assert urlsplit(launched.headers["Location"]).path == path
    landing = browser.get(urljoin(launched.url, launched.headers["Location"]), allow_redirects=False)
    assert landing.status_code == 200


def test_launch_data_is_kept_for_deep_linking_only(app, browser, catalog):
    from lti_tool.extensions import cache

    resource_link = _post(browser, person="learner", custom={"microcredential": SLUG})
    deep_linking = _post(browser, person="instructor", message_type="LtiDeepLinkingRequest")
    with app.app_context():
        assert cache.get(_payload(app, resource_link.headers["Location"])["l"]) is None
        assert cache.get(_payload(app, deep_linking.headers["Location"])["l"])[LTI + "message_type"] == \
            "LtiDeepLinkingRequest"


# -- recording the person --------------------------------------------------------------------------------
def test_a_launch_with_the_claims_just_recorded_writes_nothing(app, browser, catalog):
    first = _post(browser, person="learner", custom={"microcredential": SLUG})
    assert first.status_code == 303
    with _statements(app) as statements:
        second = _post(browser, person="learner", custom={"microcredential": SLUG})
    assert second.status_code == 303
    assert _writes(statements) == []
    assert _payload(app, second.headers["Location"])["u"] == _payload(app, first.headers["Location"])["u"]
    assert _payload(app, second.headers["Location"])["r"] == _payload(app, first.headers["Location"])["r"]


def test_changed_claims_are_recorded_at_once(app, browser, catalog):
    _post(browser, person="learner", custom={"microcredential": SLUG})
    with _statements(app) as statements:
        _post(browser, person="learner", custom={"microcredential": SLUG}, claims={"name": "Ada King"})
    assert any(s.startswith("UPDATE lti_user") for s in _writes(statements))

    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser

    with app.app_context():
        assert db.session.scalar(db.select(LtiUser.name)) == "Ada King"


def test_duties_are_worked_out_again_when_the_claims_are_the_same(app, browser, catalog):
    """An organization assessor grant (a duty the roles do not give) counts from the very next launch."""
    before = _post(browser, person="learner", custom={"microcredential": SLUG})
    assert "assessor" not in _payload(app, before.headers["Location"])["k"]

    from lti_tool.assessment.services import grant_assessor
    from lti_tool.catalog.services import get_microcredential
    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser

    with app.app_context():
        learner = db.session.scalar(db.select(LtiUser))
        grant_assessor(learner, get_microcredential("teaching-with-technology") or get_microcredential(SLUG),
                       learner.id)
        db.session.commit()
    after = _post(browser, person="learner", custom={"microcredential": SLUG})
    assert "assessor" in _payload(app, after.headers["Location"])["k"]
    assert urlsplit(after.headers["Location"]).path == "/assessment/"


def test_a_person_deleted_meanwhile_is_recorded_again(app, browser, catalog):
    _post(browser, person="learner", custom={"microcredential": SLUG})
    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser

    with app.app_context():
        db.session.execute(db.delete(LtiUser))
        db.session.commit()
    again = _post(browser, person="learner", custom={"microcredential": SLUG})
    assert again.status_code == 303
    assert browser.get(urljoin(again.url, again.headers["Location"]), allow_redirects=False).status_code == 200
    with app.app_context():
        assert db.session.scalar(db.select(LtiUser.sub)) == "user-learner-1"


# -- registrations kept for seconds ----------------------------------------------------------------------
def _switch_off_in_the_database(app) -> None:
    from lti_tool.extensions import db
    from lti_tool.lti.models import Registration

    with app.app_context():
        db.session.execute(db.update(Registration).values(is_active=False))
        db.session.commit()


def _is_refused(browser, login_done=None) -> bool:
    """A whole launch (or the launch step of a login done before): refused at the login or at the launch?"""
    if login_done is None:
        login, _ = browser.platform.next_launch()
        answer = browser.start_login(login)
        if answer.status_code != 302:
            assert "not registered" in answer.text  # the login names no active registration
            return True
        login_done = browser.authorize(answer)
    launched = browser.post_launch(*login_done, follow=False)
    if launched.status_code == 401:
        assert "registration with the tool has been switched off" in launched.text
        return True
    assert launched.status_code == 303
    return False


@pytest.mark.parametrize("recorded", [True, False], ids=["claims-recorded-moments-ago", "new-claims"])
def test_a_registration_switched_off_in_the_database_is_refused_at_its_next_launch(app, browser, monkeypatch,
                                                                                  recorded):
    """The process still holds the registration (for 600 s here), yet the launch itself is refused at once."""
    monkeypatch.setitem(app.config, "LTI_REGISTRATION_CACHE_SECONDS", 600)
    assert not _is_refused(browser)  # the registration is now kept in this process, and these claims recorded
    login, _ = browser.platform.next_launch(**({} if recorded else {"claims": {"name": "Someone Else"}}))
    logged_in = browser.authorize(browser.start_login(login))
    _switch_off_in_the_database(app)
    assert _is_refused(browser, logged_in)

    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser

    with app.app_context():
        assert db.session.scalar(db.select(LtiUser.name)) == "Ada Lovelace"  # nothing recorded


def test_a_registration_switched_off_through_the_tool_is_refused_at_once(app, browser, monkeypatch):
    monkeypatch.setitem(app.config, "LTI_REGISTRATION_CACHE_SECONDS", 600)
    assert not _is_refused(browser)
    login, _ = browser.platform.next_launch()
    logged_in = browser.authorize(browser.start_login(login))  # a login just before it is switched off
    from lti_tool.extensions import db
    from lti_tool.lti.models import Registration
    from lti_tool.lti.registration import deactivate_platform

    with app.app_context():
        deactivate_platform(db.session.scalar(db.select(Registration)))
        db.session.commit()
    assert _is_refused(browser, logged_in)
    assert _is_refused(browser)


@pytest.mark.parametrize("change", ["keys", "catalog-trust"])
def test_a_registration_registered_again_with_other_keys_refuses_a_launch_checked_with_the_old_ones(
        app, browser, monkeypatch, change):
    """The process holds the old registration; the LMS is removed and registered again (another row). A launch
    whose signature was checked with the old snapshot's keys is refused; one where only harmless fields changed
    (here the catalog trust) goes on with the new row."""
    monkeypatch.setitem(app.config, "LTI_REGISTRATION_CACHE_SECONDS", 600)
    assert not _is_refused(browser)  # the registration is now kept in this process
    from lti_tool.extensions import db
    from lti_tool.lti.models import Deployment, Registration

    with app.app_context():
        old = db.session.scalar(db.select(Registration))
        fields = {column.name: getattr(old, column.name) for column in Registration.__table__.columns
                  if column.name not in ("id", "created_at", "updated_at")}
        deployment_ids = [d.deployment_id for d in old.deployments]
        # another LMS registered meanwhile, so that the new row's id is not the old one's (SQLite reuses ids)
        db.session.add(Registration(**{**fields, "client_id": "meanwhile", "name": "Meanwhile"}))
        db.session.delete(old)
        db.session.flush()
        if change == "keys":
            fields["key_set_url"] = "https://keys.elsewhere.example/jwks"
        else:
            fields["manages_catalog"] = not fields["manages_catalog"]
        again = Registration(**fields)
        again.deployments = [Deployment(deployment_id=d) for d in deployment_ids]
        db.session.add(again)
        db.session.commit()
    login, _ = browser.platform.next_launch()
    launched = browser.post_launch(*browser.authorize(browser.start_login(login)), follow=False)
    if change == "keys":
        assert launched.status_code == 401
        assert "registration with the tool changed during the launch" in launched.text
    else:
        assert launched.status_code == 303, launched.text[:300]


def test_a_membership_a_roster_sync_switched_off_is_active_again_at_the_next_launch(app, browser, catalog):
    """The same claims a moment later, but the course's roster marked the person inactive since: the launch
    records them again (the skip holds only while what it would write is what the database has)."""
    first = _post(browser, person="learner", custom={"microcredential": SLUG})
    assert first.status_code == 303
    from lti_tool.extensions import db
    from lti_tool.lti.models import Membership

    with app.app_context():
        db.session.execute(db.update(Membership).values(status="Inactive"))
        db.session.commit()
    again = _post(browser, person="learner", custom={"microcredential": SLUG})
    assert again.status_code == 303
    with app.app_context():
        assert db.session.scalars(db.select(Membership.status)).all() == ["Active"]
