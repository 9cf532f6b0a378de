"""Releasing an *Earned* decision issues a badge that outside verifiers accept, checked as they check it:
1EdTech's Open Badges 2.0 validator (hosted assertion, baked PNG, baked SVG) and an OB 3.0 verifier written
from the spec (tests/badges), both over real HTTP against the running tool."""

from __future__ import annotations

import base64
import email
import json
from email import policy

import pytest
import requests

from tests.badge_road import badge_row, earn_badge
from tests.badges.ob2_validator import assert_valid_ob2, validate_ob2
from tests.badges.ob3_verifier import recipient_matches, requests_getter, verify_ob3, verify_ob3_second_opinion
from tests.platform.platform import PEOPLE

pytestmark = pytest.mark.usefixtures("running_term")

LEARNER_EMAIL = PEOPLE["learner"].email


def _get(live_tool, path: str, **kwargs):
    return requests.get(live_tool.url + path, timeout=10, **kwargs)


def _verify(jwt_text: str, **kwargs):
    return verify_ob3(jwt_text, get=requests_getter(), require_status=True, allow_profile_email=True, **kwargs)


def _send_mail(app) -> list[email.message.EmailMessage]:
    from lti_tool.mail.outbox import run_once
    from lti_tool.mail.transport import mail_folder

    while run_once(app):
        pass
    return [email.message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in sorted(mail_folder(app).glob("*.eml"))]


@pytest.fixture(autouse=True)
def _empty_mail_folder(app):
    from lti_tool.mail.transport import mail_folder

    for path in mail_folder(app).glob("*.eml"):
        path.unlink()


def test_an_earned_release_issues_a_badge_that_both_validators_accept(app, platform, live_tool):
    earned = earn_badge(app, platform)
    badge = badge_row(app, earned.assessment_id)
    assert badge.status == "issued" and badge.issued_at is not None

    # Open Badges 2.0, hosted: 1EdTech's validator fetches the assertion, BadgeClass and Issuer from the tool.
    assertion_url = f"{live_tool.url}/ob/v2/assertions/{badge.uuid}"
    hosted = _get(live_tool, f"/ob/v2/assertions/{badge.uuid}")
    assert hosted.headers["Content-Type"].startswith("application/ld+json")
    assert hosted.json()["id"] == assertion_url
    assert_valid_ob2(assertion_url, recipient_email=LEARNER_EMAIL, allow_warnings=False)

    # ...and inside the baked images.
    png = _get(live_tool, f"/badges/{badge.uuid}/badge.png")
    svg = _get(live_tool, f"/badges/{badge.uuid}/badge.svg")
    assert png.headers["Content-Type"] == "image/png" and svg.headers["Content-Type"].startswith("image/svg+xml")
    assert_valid_ob2(png.content, recipient_email=LEARNER_EMAIL)
    assert_valid_ob2(svg.content, recipient_email=LEARNER_EMAIL)

    # Open Badges 3.0: every step of the spec's verification, and a second library's opinion.
    credential = _get(live_tool, f"/ob/v3/credentials/{badge.uuid}")
    assert credential.headers["Content-Type"].startswith("application/vc+jwt")
    verification = _verify(credential.text)
    assert verification.ok, verification.summary()
    assert verification.status == "Verified"
    assert verify_ob3_second_opinion(credential.text, get=requests_getter())
    assert recipient_matches(verification, LEARNER_EMAIL)
    assert not recipient_matches(verification, "someone.else@school.example")
    assert LEARNER_EMAIL not in credential.text and LEARNER_EMAIL not in base64.urlsafe_b64decode(
        credential.text.split(".")[1] + "==").decode()
    document = verification.credential
    assert document["credentialSubject"]["achievement"]["name"] == "Educator Self-Assessment and Professional Growth"
    assert document["credentialStatus"]["type"] == "BitstringStatusListEntry"

    # The baked images carry the same credential.
    from lti_tool.badges.baking import unbake_png, unbake_svg

    assert unbake_png(png.content, "openbadgecredential") == credential.text
    assert json.loads(unbake_png(png.content, "openbadges"))["id"] == assertion_url
    assert unbake_svg(svg.text)["ob3"] == credential.text


def test_the_earner_receives_the_badge_and_the_record_of_completion_by_email(app, platform, live_tool):
    earned = earn_badge(app, platform)
    badge = badge_row(app, earned.assessment_id)
    (message,) = [m for m in _send_mail(app) if "earned" in m["Subject"]]
    assert message["To"] == LEARNER_EMAIL
    attachments = {part.get_filename(): part for part in message.iter_attachments()}
    png_name, pdf_name = sorted(attachments, key=lambda name: name.endswith(".pdf"))
    png = attachments[png_name].get_content()
    pdf = attachments[pdf_name].get_content()
    assert attachments[png_name].get_content_type() == "image/png" and pdf.startswith(b"%PDF")
    assert_valid_ob2(png, recipient_email=LEARNER_EMAIL)
    body = message.get_body(("plain",)).get_content()
    verify_url = f"{live_tool.url}/badges/{badge.uuid}"
    assert verify_url in body and "6 hours" in body
    # The link in the email leads to the verification page of that badge.
    page = requests.get(verify_url, timeout=10)
    assert page.status_code == 200 and "Valid" in page.text


@pytest.mark.parametrize("odd", ["ada@school.example, ada2@school.example", "Ada <ada@school.example>",
                                 "ada lovelace@school.example", "ada@localhost"])
def test_an_odd_email_from_the_lms_never_stops_the_release_the_badge_waits_for_a_confirmed_one(app, platform, odd):
    earned = earn_badge(app, platform, email_claim=odd)  # earn_badge asserts the release answered 200
    badge = badge_row(app, earned.assessment_id)
    assert badge.status == "awaiting_email" and badge.recipient_email is None
    assert not [m for m in _send_mail(app) if "earned" in (m["Subject"] or "")]


def test_a_not_yet_release_issues_no_badge(app, platform):
    earned = earn_badge(app, platform, decision="notyet")
    assert earned.badge_uuid is None
    assert not [m for m in _send_mail(app) if "badge" in (m["Subject"] or "").lower()]


def test_an_issued_badge_has_the_status_index_of_its_credential_and_the_database_keeps_it(app, platform):
    import sqlalchemy as sa

    from lti_tool.badges.models import Badge
    from lti_tool.extensions import db

    earned = earn_badge(app, platform)
    badge = badge_row(app, earned.assessment_id)
    assert badge.status_index == earned.assessment_id  # a first credential: its assessment's id
    with app.app_context(), pytest.raises(sa.exc.IntegrityError):
        db.session.execute(db.update(Badge).where(Badge.uuid == earned.badge_uuid).values(status_index=None))
    waiting = earn_badge(app, platform, person="learner-2", share_email=False)
    assert badge_row(app, waiting.assessment_id).status_index is None  # no credential yet


def test_a_tampered_or_foreign_credential_fails_verification(app, platform, live_tool):
    earned = earn_badge(app, platform)
    jwt_text = _get(live_tool, f"/ob/v3/credentials/{earned.badge_uuid}").text
    header, payload, signature = jwt_text.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["credentialSubject"]["achievement"]["name"] = "Something never earned"
    forged = ".".join([header, base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode(),
                       signature])
    result = _verify(forged)
    assert not result.ok and not result["signature"].passed
    assert not verify_ob3_second_opinion(forged, get=requests_getter())

    # A kid that is not the tool's: the verifier cannot find the key.
    foreign = json.loads(base64.urlsafe_b64decode(header + "=="))
    foreign["kid"] = f"{live_tool.url}/ob/keys/not-a-key"
    forged_kid = base64.urlsafe_b64encode(json.dumps(foreign).encode()).rstrip(b"=").decode()
    assert not _verify(".".join([forged_kid, payload, signature])).ok

    # The right badge, the wrong person.
    assert not recipient_matches(_verify(jwt_text), PEOPLE["learner-2"].email)
    report = validate_ob2(f"{live_tool.url}/ob/v2/assertions/{earned.badge_uuid}",
                          recipient_email=PEOPLE["learner-2"].email)
    assert not report["report"]["valid"]


def test_a_revoked_badge_fails_both_verifications_and_an_unrevoked_one_passes_again(app, platform, live_tool):
    from lti_tool.badges import issuing
    from lti_tool.badges.models import Badge
    from lti_tool.extensions import db

    earned = earn_badge(app, platform)
    jwt_text = _get(live_tool, f"/ob/v3/credentials/{earned.badge_uuid}").text
    badgeclass_url = _get(live_tool, f"/ob/v2/assertions/{earned.badge_uuid}").json()["badge"]
    with app.app_context():
        badge = db.session.scalar(db.select(Badge).where(Badge.uuid == earned.badge_uuid))
        issuing.revoke(badge, None, "Evidence was not the educator's own work.")
        db.session.commit()

    revoked = _verify(jwt_text)
    assert revoked.status == "Revoked", revoked.summary()
    assertion = _get(live_tool, f"/ob/v2/assertions/{earned.badge_uuid}")
    assert assertion.status_code == 410 and assertion.json()["revoked"] is True
    assert assertion.json()["revocationReason"] == "Evidence was not the educator's own work."
    issuer = requests.get(badgeclass_url, timeout=10).json()["issuer"]
    revocations = requests.get(requests.get(issuer, timeout=10).json()["revocationList"], timeout=10).json()
    assert [r["id"] for r in revocations["revokedAssertions"]] == [assertion.json()["id"]]
    assert validate_ob2(f"{live_tool.url}/ob/v2/assertions/{earned.badge_uuid}")["revoked"] is True
    # Not handed out again (the verification page still shows the image, greyed out).
    for path in ("credential.jwt", "assertion.json", "badge.png?download=1", "badge.svg?download=1"):
        gone = _get(live_tool, f"/badges/{earned.badge_uuid}/{path}")
        assert gone.status_code == 410 and "revoked by its issuer" in gone.text, path
    assert _get(live_tool, f"/badges/{earned.badge_uuid}/badge.png").status_code == 200

    with app.app_context():
        badge = db.session.scalar(db.select(Badge).where(Badge.uuid == earned.badge_uuid))
        issuing.unrevoke(badge, None, "Appeal upheld.")
        db.session.commit()
    assert_valid_ob2(f"{live_tool.url}/ob/v2/assertions/{earned.badge_uuid}", recipient_email=LEARNER_EMAIL)
    # OB 3.0: a revocation is permanent, so the credential seen revoked stays revoked...
    assert _verify(jwt_text).status == "Revoked"
    # ...and the badge has a new one: the same id, a new status index whose bit is clear, signed again.
    new_jwt = _get(live_tool, f"/ob/v3/credentials/{earned.badge_uuid}").text
    reinstated, old = _verify(new_jwt), _verify(jwt_text)
    assert reinstated.status == "Verified" and reinstated.ok, reinstated.summary()
    assert reinstated.credential["id"] == old.credential["id"]
    new_status, old_status = reinstated.credential["credentialStatus"], old.credential["credentialStatus"]
    # (An index counts within its list: the new credential's is in another list, 1024 onwards.)
    assert ((new_status["statusListCredential"], new_status["statusListIndex"])
            != (old_status["statusListCredential"], old_status["statusListIndex"]))
    assert new_status["id"] != old_status["id"]
    assert reinstated.credential["awardedDate"] == old.credential["validFrom"] == old.credential["awardedDate"]
    assert reinstated.credential["validFrom"] >= old.credential["validFrom"]
    # Everything handed out from now on carries it: the downloads and the baked images.
    from lti_tool.badges.baking import unbake_png, unbake_svg

    assert _get(live_tool, f"/badges/{earned.badge_uuid}/credential.jwt").text == new_jwt
    png = _get(live_tool, f"/badges/{earned.badge_uuid}/badge.png?download=1")
    assert unbake_png(png.content, "openbadgecredential") == new_jwt
    assert unbake_svg(_get(live_tool, f"/badges/{earned.badge_uuid}/badge.svg?download=1").text)["ob3"] == new_jwt
    page = _get(live_tool, f"/badges/{earned.badge_uuid}")
    assert page.status_code == 200 and "Revoked on" not in page.text and 'class="verdict valid"' in page.text


def test_badges_signed_before_a_key_rotation_still_verify_after_the_old_key_is_retired(app, platform, live_tool):
    from lti_tool.core.keys import key_store

    first = earn_badge(app, platform)
    old_jwt = _get(live_tool, f"/ob/v3/credentials/{first.badge_uuid}").text
    with app.app_context():
        store = key_store()
        old_kid = store.signing_key().kid
        store.rotate()
        store.retire(old_kid)
    try:
        assert old_kid not in _get(live_tool, "/lti/jwks").text  # gone from LTI...
        old = _verify(old_jwt)
        assert old.ok, old.summary()  # ...still resolvable for the badges it signed
        second = earn_badge(app, platform, person="learner-2")
        new_jwt = _get(live_tool, f"/ob/v3/credentials/{second.badge_uuid}").text
        new_verification = _verify(new_jwt)
        assert new_verification.ok, new_verification.summary()
        assert old_kid not in new_verification.header["kid"]
    finally:
        with app.app_context():
            assert key_store().find(old_kid) is not None


def test_a_badge_that_expires_says_so_to_verifiers(app, platform, live_tool):
    from datetime import UTC, datetime, timedelta

    from tests.assessment_road import set_microcredential

    set_microcredential(app, badge_valid_months=12)
    try:
        earned = earn_badge(app, platform)
    finally:
        set_microcredential(app, badge_valid_months=None)
    jwt_text = _get(live_tool, f"/ob/v3/credentials/{earned.badge_uuid}").text
    now = _verify(jwt_text)
    assert now.ok and now.credential["validUntil"] and now.payload["exp"]
    later = _verify(jwt_text, now=datetime.now(UTC) + timedelta(days=400))
    assert later.status == "Expired"
    assertion = _get(live_tool, f"/ob/v2/assertions/{earned.badge_uuid}").json()
    assert assertion["expires"] == now.credential["validUntil"]


def test_unknown_badges_and_documents_answer_404(app, platform, live_tool):
    for path in ("/ob/v2/assertions/not-a-uuid", "/ob/v2/assertions/00000000-0000-0000-0000-000000000000",
                 "/ob/v3/credentials/00000000-0000-0000-0000-000000000000", "/ob/v2/issuers/1/badgeclasses/nope",
                 "/ob/v2/issuers/999999", "/ob/v3/status/999999/0", "/ob/keys/nope",
                 "/badges/00000000-0000-0000-0000-000000000000/badge.png", "/badges/images/nope.png"):
        assert _get(live_tool, path).status_code == 404, path


def test_the_status_list_is_dated_back_so_a_verifier_whose_clock_is_behind_accepts_it(app, platform, live_tool):
    import time

    earned = earn_badge(app, platform)
    jwt_text = _get(live_tool, f"/ob/v3/credentials/{earned.badge_uuid}").text
    list_url = _verify(jwt_text).credential["credentialStatus"]["statusListCredential"]
    status_jwt = requests.get(list_url, timeout=10).text
    claims = json.loads(base64.urlsafe_b64decode(status_jwt.split(".")[1] + "=="))
    assert claims["nbf"] <= time.time() - 240  # a verifier four minutes behind still finds it valid
