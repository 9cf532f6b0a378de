"""Admins' badge pages through real HTTP: the platform's badges, one badge's audit log, revoking and reinstating
as every verifier then sees it, and the issuer profiles.

Badges are earned the way people earn them (`badge_road.earn_badge`: submit, score, release); admins launch from
the independent test platform.
"""

from __future__ import annotations

import base64
import email
import email.policy
import gzip
import re
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import jwt
import pytest
import requests

from lti_tool.badges import queries
from lti_tool.badges.status_list import REISSUE_BASE
from lti_tool.extensions import db
from lti_tool.mail import outbox
from tests.assessment_road import at_once
from tests.badge_road import badge_row, earn_badge
from tests.nothing_changed import nothing_changes
from tests.platform.browser import PlatformBrowser

pytestmark = pytest.mark.usefixtures("running_term")

SLUG = "self-assessment-growth"
TITLE = "Educator Self-Assessment and Professional Growth"
REASON = "The evidence was found to be copied from another educator's portfolio."


# -- helpers --------------------------------------------------------------------------------------------------
@pytest.fixture
def earned(app, platform):
    return earn_badge(app, platform)


# A launch reference is bound to the browser that launched (its partitioned cookie): requests with it go from there.
BROWSERS: dict[str, PlatformBrowser] = {}


def launched_ltik(platform, **plan) -> str:
    browser = PlatformBrowser(platform)
    result = browser.launch(**plan)
    assert result.status_code == 200, result.text[:500]
    assert result.ltik
    BROWSERS[result.ltik] = browser
    return result.ltik


def admin_ltik(platform) -> str:
    return launched_ltik(platform, person="admin")


def client(ltik):
    """The browser that launched this reference; for requests without one, any client."""
    return BROWSERS.get(ltik) or requests


@pytest.fixture
def admin(platform):
    return admin_ltik(platform)


def get(live_tool, path, ltik=None, **params):
    if ltik is not None:
        params["ltik"] = ltik
    return client(ltik).get(live_tool.url + path, params=params, timeout=10)


def post(live_tool, path, data, **kwargs):
    ltik = data.get("ltik") or kwargs.get("params", {}).get("ltik")
    return client(ltik).post(live_tool.url + path, data=data, timeout=10,
                             allow_redirects=kwargs.pop("follow", True), **kwargs)


def listed(html: str) -> list[tuple[str, str]]:
    """The badges table as (badge uuid, status) in page order."""
    table = html.split('id="badges"', 1)[1].split("</table>", 1)[0] if 'id="badges"' in html else ""
    return re.findall(r'<tr data-badge="([0-9a-f-]{36})" data-status="(\w+)">', table)


def jwt_payload(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def current_credential(live_tool, badge_uuid: str) -> str:
    credential = get(live_tool, f"/ob/v3/credentials/{badge_uuid}")
    assert credential.status_code == 200
    return credential.text


def status_bit(live_tool, badge_uuid: str | None = None, *, credential_jwt: str | None = None) -> int:
    """The bit of the badge's current OB 3.0 credential (or of `credential_jwt`, a copy kept from earlier) in its
    status list, read as a verifier reads it (Bitstring Status List §3.2)."""
    status = jwt_payload(credential_jwt or current_credential(live_tool, badge_uuid))["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry" and status["statusPurpose"] == "revocation"
    index = int(status["statusListIndex"])
    listing = get(live_tool, status["statusListCredential"].removeprefix(live_tool.url))
    assert listing.status_code == 200
    encoded = jwt_payload(listing.text)["credentialSubject"]["encodedList"]
    assert encoded.startswith("u")  # multibase base64url, no padding
    raw = encoded[1:]
    bits = gzip.decompress(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return (bits[index // 8] >> (7 - index % 8)) & 1  # bit 0 is the first byte's most significant bit


def revocation_list(live_tool, app, badge_uuid: str) -> list[str]:
    """The ids the badge's issuer lists in its OB 2.0 revocation list (reached as a verifier does, by links)."""
    with app.app_context():
        from lti_tool.badges.models import Badge

        badge = db.session.scalar(db.select(Badge).where(Badge.uuid == badge_uuid))
        badgeclass_url = badge.assertion["badge"]
    badgeclass = get(live_tool, badgeclass_url.removeprefix(live_tool.url)).json()
    issuer = get(live_tool, badgeclass["issuer"].removeprefix(live_tool.url)).json()
    revocations = get(live_tool, issuer["revocationList"].removeprefix(live_tool.url)).json()
    return [entry["id"] for entry in revocations["revokedAssertions"]]


def mail_files(app) -> set[Path]:
    """The emails written so far, once the mail worker sent what was queued (the badge's own issue email)."""
    outbox.run_once(app)
    folder = Path(app.instance_path) / "mail"
    return set(folder.glob("*.eml")) if folder.exists() else set()


def new_mail(app, before: set[Path]) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(mail_files(app) - before)]


def revoked_rows(app, badge_uuid: str) -> list[tuple[int, int]]:
    """(id, status index) of the badge's revoked credentials, oldest first."""
    from lti_tool.badges.models import Badge, BadgeRevokedStatus

    with app.app_context():
        return [tuple(row) for row in db.session.execute(
            db.select(BadgeRevokedStatus.id, BadgeRevokedStatus.status_index).join(Badge)
            .where(Badge.uuid == badge_uuid).order_by(BadgeRevokedStatus.id))]


def events(app, badge_uuid: str) -> list[tuple[str, dict]]:
    from lti_tool.badges.models import Badge, BadgeEvent

    with app.app_context():
        badge_id = db.session.scalar(db.select(Badge.id).where(Badge.uuid == badge_uuid))
        return [(e.action, e.details) for e in db.session.scalars(
            db.select(BadgeEvent).where(BadgeEvent.badge_id == badge_id).order_by(BadgeEvent.id))]


def revoke(live_tool, ltik, badge_uuid, reason=REASON, follow=True):
    return post(live_tool, f"/admin/badges/{badge_uuid}/revoke", {"ltik": ltik, "reason": reason}, follow=follow)


def unrevoke(live_tool, ltik, badge_uuid, note="", follow=True):
    return post(live_tool, f"/admin/badges/{badge_uuid}/unrevoke", {"ltik": ltik, "note": note}, follow=follow)


# -- who may -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("person", ["learner", "instructor", "assessor"])
def test_only_admins_reach_the_badge_and_issuer_pages(app, platform, live_tool, earned, person):
    ltik = launched_ltik(platform, person=person, custom={"microcredential": SLUG})
    for path in ("/admin/badges/", f"/admin/badges/{earned.badge_uuid}", "/admin/issuers/", "/admin/issuers/new"):
        refused = get(live_tool, path, ltik)
        assert refused.status_code == 403, path
        assert "Lovelace" not in refused.text
    with nothing_changes(app):
        assert revoke(live_tool, ltik, earned.badge_uuid).status_code == 403
    assert badge_row(app, earned.assessment_id).status == "issued"
    assert events(app, earned.badge_uuid)[-1][0] == "issued"


def test_a_revocation_needs_the_launch_reference_in_the_form(app, live_tool, earned, admin):
    with nothing_changes(app):
        response = post(live_tool, f"/admin/badges/{earned.badge_uuid}/revoke", {"reason": REASON},
                        params={"ltik": admin})
    assert response.status_code == 403
    assert badge_row(app, earned.assessment_id).status == "issued"


def test_an_admin_never_sees_another_platforms_badges(app, platform, other_platform, live_tool, earned):
    theirs = earn_badge(app, other_platform, person="learner-2")
    ours = admin_ltik(platform)
    listing = get(live_tool, "/admin/badges/", ours)
    assert [uuid for uuid, _ in listed(listing.text)] == [earned.badge_uuid]
    assert "Katherine" not in listing.text
    assert get(live_tool, f"/admin/badges/{theirs.badge_uuid}", ours).status_code == 404
    with nothing_changes(app):
        assert revoke(live_tool, ours, theirs.badge_uuid).status_code == 404
        assert unrevoke(live_tool, ours, theirs.badge_uuid).status_code == 404
    assert badge_row(app, theirs.assessment_id).status == "issued"
    # The other platform's admin sees theirs, and only theirs.
    their_admin = admin_ltik(other_platform)
    assert [uuid for uuid, _ in listed(get(live_tool, "/admin/badges/", their_admin).text)] == [theirs.badge_uuid]
    assert get(live_tool, f"/admin/badges/{theirs.badge_uuid}", their_admin).status_code == 200
    assert get(live_tool, f"/admin/badges/{earned.badge_uuid}", their_admin).status_code == 404


def test_an_unknown_or_malformed_badge_is_404(live_tool, earned, admin):
    for badge_uuid in ("00000000-0000-4000-8000-000000000000", "x" * 80, "' OR 1=1 --"):
        assert get(live_tool, f"/admin/badges/{badge_uuid}", admin).status_code == 404


# -- the list -------------------------------------------------------------------------------------------------
def test_the_list_names_earners_with_their_badge_and_links(app, live_tool, earned, admin):
    from lti_tool.catalog.services import current_term

    page = get(live_tool, "/admin/badges/", admin)
    assert page.status_code == 200
    with app.app_context():
        zone = current_term().time_zone
    assert zone != "UTC" and f"Issued <span class=\"muted\">({zone})</span>" in page.text  # the term's zone, named
    assert listed(page.text) == [(earned.badge_uuid, "issued")]
    row = page.text.split(f'data-badge="{earned.badge_uuid}"', 1)[1].split("</tr>", 1)[0]
    assert "Ada Lovelace" in row and "ada@school.example" in row and TITLE in row and "Issued" in row
    assert f'href="/badges/{earned.badge_uuid}"' in row  # the public verification page
    assert f"/admin/badges/{earned.badge_uuid}?ltik=" in row


def test_filters_search_and_pages(app, platform, live_tool, earned, admin, monkeypatch):
    second = earn_badge(app, platform, person="learner-2", share_email=False)  # waits for an email
    assert badge_row(app, second.assessment_id).status == "awaiting_email"

    def uuids(**params):
        return [uuid for uuid, _ in listed(get(live_tool, "/admin/badges/", admin, **params).text)]

    assert uuids() == [second.badge_uuid, earned.badge_uuid]  # newest first
    assert uuids(status="issued") == [earned.badge_uuid]
    assert uuids(status="awaiting_email") == [second.badge_uuid]
    assert uuids(status="revoked") == []
    assert uuids(status="bogus") == [second.badge_uuid, earned.badge_uuid]  # an allow-list: unknown means all
    assert uuids(q="LOVELACE") == [earned.badge_uuid]
    assert uuids(q="ADA@school") == [earned.badge_uuid]  # by email
    assert uuids(q="johnson") == [second.badge_uuid]  # the LMS shared no email for her: her name finds her
    assert uuids(q="%") == [] and uuids(q="_") == []  # wildcards are searched as text
    with app.app_context():
        from lti_tool.catalog.services import get_microcredential

        mc_id = get_microcredential(SLUG).id
    assert uuids(microcredential=mc_id) == [second.badge_uuid, earned.badge_uuid]
    assert uuids(microcredential=mc_id + 999) == []
    assert uuids(microcredential="1 OR 1=1") == [second.badge_uuid, earned.badge_uuid]
    page = get(live_tool, "/admin/badges/", admin, q="nobody")
    assert "No badge matches" in page.text
    counts = dict(re.findall(r'data-status-count="(\w+)"><span class="n">(\d+)</span>', page.text))
    assert counts == {"issued": "1", "revoked": "0", "awaiting_email": "1"}

    monkeypatch.setattr(queries, "PAGE_SIZE", 1)
    first, last = (get(live_tool, "/admin/badges/", admin, page=n) for n in (1, 2))
    assert [u for u, _ in listed(first.text)] == [second.badge_uuid]
    assert [u for u, _ in listed(last.text)] == [earned.badge_uuid]
    assert "2 badges · page 1 of 2" in first.text and 'rel="next"' in first.text and 'rel="next"' not in last.text
    assert [u for u, _ in listed(get(live_tool, "/admin/badges/", admin, page=99).text)] == [earned.badge_uuid]


def test_the_admin_home_and_the_navigation_link_to_the_badges(live_tool, earned, admin):
    home = get(live_tool, "/admin/", admin)
    assert "/admin/badges/?ltik=" in home.text and "/admin/issuers/?ltik=" in home.text
    assert ">Manage badges</a>" in home.text


# -- revoking and reinstating, as every verifier sees it ------------------------------------------------------
def test_revoking_reaches_every_verifier_and_the_earner_and_unrevoking_reverses_it(app, live_tool, earned, admin):
    badge_uuid = earned.badge_uuid
    assertion_id = f"{live_tool.url}/ob/v2/assertions/{badge_uuid}"
    assert get(live_tool, f"/ob/v2/assertions/{badge_uuid}").status_code == 200
    assert status_bit(live_tool, badge_uuid) == 0
    assert assertion_id not in revocation_list(live_tool, app, badge_uuid)
    page = get(live_tool, f"/admin/badges/{badge_uuid}", admin)
    assert page.status_code == 200 and 'id="revoke-form"' in page.text and 'id="unrevoke-form"' not in page.text
    before = mail_files(app)
    first_jwt = current_credential(live_tool, badge_uuid)  # as the earner downloaded it

    done = revoke(live_tool, admin, badge_uuid, follow=False)
    assert done.status_code == 303
    page = client(admin).get(urljoin(live_tool.url, done.headers["Location"]), timeout=10)  # the admin's browser
    assert page.status_code == 200
    assert "The badge was revoked" in page.text
    assert re.search(r'id="badge-status">Revoked<', page.text)
    assert REASON in unescape(page.text)
    assert 'id="unrevoke-form"' in page.text and 'id="revoke-form"' not in page.text
    log = page.text.split('id="audit-log"', 1)[1]
    assert '<tr data-action="revoked">' in log and "Edsger Dijkstra" in log

    public = get(live_tool, f"/badges/{badge_uuid}")
    assert public.status_code == 200 and "Revoked on" in public.text and REASON in unescape(public.text)
    gone = get(live_tool, f"/ob/v2/assertions/{badge_uuid}")
    assert gone.status_code == 410 and gone.json()["revoked"] is True
    assert assertion_id in revocation_list(live_tool, app, badge_uuid)
    assert status_bit(live_tool, badge_uuid) == 1
    [told] = new_mail(app, before)
    assert told["To"] == "ada@school.example" and "revoked" in told["Subject"]
    assert REASON in told.get_body(("plain",)).get_content()
    assert [action for action, _ in events(app, badge_uuid)][-1] == "revoked"

    before = mail_files(app)
    reinstated = unrevoke(live_tool, admin, badge_uuid, note="Checked again: the work is hers.")
    assert reinstated.status_code == 200 and "reinstated" in reinstated.text
    assert re.search(r'id="badge-status">Issued<', reinstated.text)
    assert "Checked again: the work is hers." in reinstated.text  # in the audit log
    public = get(live_tool, f"/badges/{badge_uuid}")
    assert "Revoked on" not in public.text
    assert get(live_tool, f"/ob/v2/assertions/{badge_uuid}").status_code == 200
    assert assertion_id not in revocation_list(live_tool, app, badge_uuid)
    # OB 3.0: a revocation is permanent. The copy downloaded earlier stays revoked; the badge has a new
    # credential at a new index, whose bit is clear.
    assert status_bit(live_tool, credential_jwt=first_jwt) == 1
    assert status_bit(live_tool, badge_uuid) == 0
    new_jwt = current_credential(live_tool, badge_uuid)
    first_status, new_status = jwt_payload(first_jwt)["credentialStatus"], jwt_payload(new_jwt)["credentialStatus"]
    assert new_status["statusListCredential"] != first_status["statusListCredential"]
    new_index = badge_row(app, earned.assessment_id).status_index
    assert new_index == REISSUE_BASE + revoked_rows(app, badge_uuid)[0][0]
    [told] = new_mail(app, before)
    assert told["To"] == "ada@school.example" and "valid again" in told["Subject"]
    assert "Download your badge again" in told.get_body(("plain",)).get_content()
    assert events(app, badge_uuid)[-1] == ("un-revoked", {"previous_reason": REASON, "status_index": new_index,
                                                          "note": "Checked again: the work is hers."})


def test_a_reinstated_badge_can_be_revoked_again_and_every_revoked_credential_stays_revoked(
        app, live_tool, earned, admin):
    badge_uuid = earned.badge_uuid
    first_jwt = current_credential(live_tool, badge_uuid)
    assert revoke(live_tool, admin, badge_uuid).status_code == 200
    assert unrevoke(live_tool, admin, badge_uuid).status_code == 200
    second_jwt = current_credential(live_tool, badge_uuid)
    assert revoke(live_tool, admin, badge_uuid, reason="Copied after all.").status_code == 200

    # Two revocations, two rows: the first credential's index (its assessment's id), then the new one's.
    rows = revoked_rows(app, badge_uuid)
    assert [index for _, index in rows] == [earned.assessment_id, REISSUE_BASE + rows[0][0]]
    assert badge_row(app, earned.assessment_id).status_index == rows[1][1]
    assert status_bit(live_tool, credential_jwt=first_jwt) == 1
    assert status_bit(live_tool, credential_jwt=second_jwt) == 1
    assert status_bit(live_tool, badge_uuid) == 1

    # Reinstated again: a third index, never used before.
    assert unrevoke(live_tool, admin, badge_uuid).status_code == 200
    third_jwt = current_credential(live_tool, badge_uuid)
    assert badge_row(app, earned.assessment_id).status_index == REISSUE_BASE + rows[1][0]
    assert len({jwt_payload(token)["credentialStatus"]["id"] for token in (first_jwt, second_jwt, third_jwt)}) == 3
    assert [status_bit(live_tool, credential_jwt=token) for token in (first_jwt, second_jwt, third_jwt)] == [1, 1, 0]
    assert len(revoked_rows(app, badge_uuid)) == 2
    public = get(live_tool, f"/badges/{badge_uuid}")
    assert public.status_code == 200 and 'class="verdict valid"' in public.text

    # The live check reads the bit the served credential names: were a revoked copy served again, it says so.
    from lti_tool.badges.models import Badge

    with app.app_context():
        db.session.execute(db.update(Badge).where(Badge.uuid == badge_uuid).values(credential_jwt=second_jwt))
        db.session.commit()
    public = get(live_tool, f"/badges/{badge_uuid}")
    assert 'class="verdict valid"' not in public.text
    assert "The credential does not carry this badge&#39;s current status entry." in public.text


def test_revoking_twice_or_reinstating_an_issued_badge_is_a_clear_409(app, live_tool, earned, admin):
    badge_uuid = earned.badge_uuid
    with nothing_changes(app):
        refused = unrevoke(live_tool, admin, badge_uuid)
    assert refused.status_code == 409
    assert "This badge is not revoked" in refused.text and "Nothing was changed" in refused.text
    assert 'href="/admin/badges/?ltik=' in refused.text  # a way back
    assert revoke(live_tool, admin, badge_uuid).status_code == 200
    with nothing_changes(app):
        twice = revoke(live_tool, admin, badge_uuid, reason="Again")
    assert twice.status_code == 409
    assert "Only an issued badge can be revoked" in twice.text and "it is revoked" in twice.text
    assert f'href="/admin/badges/{badge_uuid}?ltik=' in twice.text
    assert [action for action, _ in events(app, badge_uuid)].count("revoked") == 1
    assert badge_row(app, earned.assessment_id).revocation_reason == REASON


@pytest.mark.parametrize("reason", ["", "   \n "])
def test_a_revocation_without_a_reason_changes_nothing(app, live_tool, earned, admin, reason):
    before = mail_files(app)
    with nothing_changes(app):
        refused = revoke(live_tool, admin, earned.badge_uuid, reason=reason)
    assert refused.status_code == 400
    assert 'aria-invalid="true"' in refused.text and "Write the reason" in refused.text
    assert badge_row(app, earned.assessment_id).status == "issued"
    assert [action for action, _ in events(app, earned.badge_uuid)] == ["issued"]
    assert not [m for m in new_mail(app, before) if "revoked" in m["Subject"]]


def test_a_reason_too_long_is_refused_with_the_text_kept(app, live_tool, earned, admin):
    with nothing_changes(app):
        refused = revoke(live_tool, admin, earned.badge_uuid, reason="x" * 2001)
    assert refused.status_code == 400 and "x" * 2001 in refused.text
    assert badge_row(app, earned.assessment_id).status == "issued"


def test_a_badge_awaiting_an_email_cannot_be_revoked(app, platform, live_tool, admin):
    waiting = earn_badge(app, platform, share_email=False)
    page = get(live_tool, f"/admin/badges/{waiting.badge_uuid}", admin)
    assert page.status_code == 200
    assert "Awaiting email" in page.text and 'id="revoke-form"' not in page.text
    assert "/badges/" + waiting.badge_uuid + '"' not in page.text  # no public page yet
    with nothing_changes(app):
        assert revoke(live_tool, admin, waiting.badge_uuid).status_code == 409
    assert badge_row(app, waiting.assessment_id).status == "awaiting_email"


def test_the_audit_log_is_escaped(app, live_tool, earned, admin):
    script = "<script>alert('x')</script>"
    revoke(live_tool, admin, earned.badge_uuid, reason=script)
    page = get(live_tool, f"/admin/badges/{earned.badge_uuid}", admin)
    assert script not in page.text and "&lt;script&gt;" in page.text


# -- issuer profiles ------------------------------------------------------------------------------------------
def issuer_rows(html: str) -> dict[int, str]:
    table = html.split('id="issuers"', 1)[1].split("</table>", 1)[0]
    return {int(i): row for i, row in re.findall(r'<tr data-issuer="(\d+)">(.*?)</tr>', table, re.S)}


def profiles(app) -> dict[int, tuple]:
    from lti_tool.catalog.models import IssuerProfile

    with app.app_context():
        return {p.id: (p.name, p.url, p.email, p.description, p.image)
                for p in db.session.scalars(db.select(IssuerProfile))}


ISSUER = {"name": "Teaching Excellence Network", "url": "https://ten.example/about", "email": "Badges@TEN.example",
          "description": "A network of schools.", "image": "/static/ten-logo.png"}


def test_the_issuers_list_shows_what_each_issues_and_how_many_badges(app, live_tool, earned, admin):
    page = get(live_tool, "/admin/issuers/", admin)
    assert page.status_code == 200
    [(issuer_id, row)] = issuer_rows(page.text).items()
    assert "Division of Elementary and Secondary Education" in row
    assert TITLE in row and "Providing Feedback to Promote Learning" in row
    assert 'data-issued="1"' in row
    revoke(live_tool, admin, earned.badge_uuid)
    row = issuer_rows(get(live_tool, "/admin/issuers/", admin).text)[issuer_id]
    assert 'data-issued="1"' in row and "(1 revoked)" in row


def test_creating_an_issuer_checks_every_field(app, live_tool, platform, catalog, admin):
    before = profiles(app)
    bad = {"ltik": admin, "name": "  ", "url": "javascript:alert(1)", "email": "not an email",
           "description": "", "image": "//evil.example/logo.png"}
    with nothing_changes(app):
        refused = post(live_tool, "/admin/issuers/new", bad)
    assert refused.status_code == 400
    for field in ("name", "url", "email", "image"):
        assert f'id="{field}-error"' in refused.text, field
    assert 'value="javascript:alert(1)"' in refused.text  # what was typed comes back
    assert profiles(app) == before
    with nothing_changes(app):
        too_long = post(live_tool, "/admin/issuers/new", {**ISSUER, "ltik": admin, "name": "n" * 301})
        assert too_long.status_code == 400 and 'id="name-error"' in too_long.text
        assert post(live_tool, "/admin/issuers/new", {**ISSUER, "ltik": admin, "url": "ftp://ten.example"}
                    ).status_code == 400
    assert profiles(app) == before

    created = post(live_tool, "/admin/issuers/new", {**ISSUER, "ltik": admin})
    assert created.status_code == 200 and "“Teaching Excellence Network” was added." in unescape(created.text)
    [new_id] = set(profiles(app)) - set(before)
    assert profiles(app)[new_id] == ("Teaching Excellence Network", "https://ten.example/about",
                                     "badges@ten.example", "A network of schools.", "/static/ten-logo.png")
    assert "No micro-credential" in issuer_rows(created.text)[new_id]


def test_a_changed_issuer_speaks_from_now_on_and_issued_badges_keep_theirs(app, live_tool, earned, admin):
    [issuer_id] = profiles(app)
    credential = jwt_payload(get(live_tool, f"/ob/v3/credentials/{earned.badge_uuid}").text)
    assert credential["issuer"]["name"] == "Division of Elementary and Secondary Education"
    form = get(live_tool, f"/admin/issuers/{issuer_id}/edit", admin)
    assert form.status_code == 200 and 'id="from-now-on"' in form.text
    saved = post(live_tool, f"/admin/issuers/{issuer_id}/edit", {**ISSUER, "ltik": admin, "name": "Renamed Division"})
    assert saved.status_code == 200 and "was saved" in saved.text
    assert get(live_tool, f"/ob/v2/issuers/{issuer_id}").json()["name"] == "Renamed Division"
    profile_v3 = get(live_tool, f"/ob/v3/issuers/{issuer_id}").json()
    assert profile_v3["name"] == "Renamed Division"
    assert profile_v3["image"]["id"] == live_tool.url + "/static/ten-logo.png"
    again = jwt_payload(get(live_tool, f"/ob/v3/credentials/{earned.badge_uuid}").text)
    assert again == credential  # signed as issued
    unchanged = post(live_tool, f"/admin/issuers/{issuer_id}/edit", {**ISSUER, "ltik": admin,
                                                                     "name": "Renamed Division"})
    assert "had no changes to save" in unchanged.text


def test_only_admins_of_a_platform_managing_the_catalog_change_issuers(app, platform, live_tool, catalog):
    from lti_tool.lti.models import Registration

    with app.app_context():
        for registration in db.session.scalars(db.select(Registration)):
            registration.manages_catalog = False
        db.session.commit()
    ltik = admin_ltik(platform)
    [issuer_id] = profiles(app)
    before = profiles(app)
    listing = get(live_tool, "/admin/issuers/", ltik)
    assert listing.status_code == 200 and 'id="read-only"' in listing.text
    assert "/admin/issuers/new" not in listing.text and f"/admin/issuers/{issuer_id}/edit" not in listing.text
    assert get(live_tool, "/admin/issuers/new", ltik).status_code == 403
    assert get(live_tool, f"/admin/issuers/{issuer_id}/edit", ltik).status_code == 403
    with nothing_changes(app):
        assert post(live_tool, "/admin/issuers/new", {**ISSUER, "ltik": ltik}).status_code == 403
        assert post(live_tool, f"/admin/issuers/{issuer_id}/edit", {**ISSUER, "ltik": ltik}).status_code == 403
    assert profiles(app) == before


def test_an_unknown_issuer_is_404(live_tool, catalog, admin):
    assert get(live_tool, "/admin/issuers/999999/edit", admin).status_code == 404


# -- the catalog form: who issues, how long a badge is valid --------------------------------------------------
def catalog_form(app, slug=SLUG, **changes) -> dict:
    """The catalog form of a micro-credential as its edit page fills it."""
    from lti_tool.admin.catalog_views import _form_values
    from lti_tool.catalog.services import get_microcredential, microcredential_entry

    with app.app_context():
        return {**_form_values(microcredential_entry(get_microcredential(slug))), **changes}


def test_the_catalog_form_chooses_the_issuer_and_the_validity(app, platform, live_tool, catalog, admin):
    created = post(live_tool, "/admin/issuers/new", {**ISSUER, "ltik": admin})
    assert created.status_code == 200
    new_id = max(profiles(app))
    edit = get(live_tool, f"/admin/catalog/{SLUG}/edit", admin)
    assert 'id="issuer_profile_id"' in edit.text and "Teaching Excellence Network</option>" in edit.text
    assert "Badge valid for (months, empty: never expires)" in edit.text

    for bad, problem in (({"badge_valid_months": "three"}, "badge_valid_months-error"),
                         ({"badge_valid_months": "0"}, "badge_valid_months-error"),
                         ({"issuer_profile_id": "999999"}, "issuer_profile_id-error"),
                         ({"issuer_profile_id": "1 OR 1=1"}, "issuer_profile_id-error")):
        form = catalog_form(app, **bad)
        with nothing_changes(app):
            refused = post(live_tool, f"/admin/catalog/{SLUG}/edit", {"ltik": admin, **form})
        assert refused.status_code == 400 and problem in refused.text, bad

    saved = post(live_tool, f"/admin/catalog/{SLUG}/edit", {
        "ltik": admin, **catalog_form(app, issuer_profile_id=str(new_id), badge_valid_months="36")})
    assert saved.status_code == 200 and "was saved" in saved.text
    with app.app_context():
        from lti_tool.catalog.services import get_microcredential

        mc = get_microcredential(SLUG)
        assert (mc.issuer_profile_id, mc.badge_valid_months) == (new_id, 36)
    assert f'<option value="{new_id}" selected>' in get(live_tool, f"/admin/catalog/{SLUG}/edit", admin).text

    earned = earn_badge(app, platform)
    badge = badge_row(app, earned.assessment_id)
    assert badge.issuer_profile_id == new_id
    assert (badge.expires_at.year - badge.issued_at.year) * 12 + badge.expires_at.month - badge.issued_at.month == 36
    credential = jwt_payload(get(live_tool, f"/ob/v3/credentials/{earned.badge_uuid}").text)
    assert credential["issuer"]["name"] == "Teaching Excellence Network"

    never = post(live_tool, f"/admin/catalog/{SLUG}/edit", {"ltik": admin,
                                                            **catalog_form(app, badge_valid_months="")})
    assert never.status_code == 200
    with app.app_context():
        from lti_tool.catalog.services import get_microcredential

        assert get_microcredential(SLUG).badge_valid_months is None


def test_two_admins_revoking_at_once_revoke_it_once(app, platform, live_tool, earned):
    first, second = admin_ltik(platform), admin_ltik(platform)
    answers = at_once(lambda: revoke(live_tool, first, earned.badge_uuid, follow=False),
                      lambda: revoke(live_tool, second, earned.badge_uuid, reason="Another reason", follow=False))
    assert sorted(answer.status_code for answer in answers) == [303, 409]
    assert [action for action, _ in events(app, earned.badge_uuid)] == ["issued", "revoked"]
