"""The badges' public pages as anyone sees them, over real HTTP and without a login: the verification page and
its live check, downloads, sharing tags, the criteria and issuer pages, the embeddable card, the earner's page.

Every badge here is earned the way people earn one (`tests.badge_road.earn_badge`); the visitor is a plain HTTP
client with no cookie and no launch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from tests.assessment_road import SLUG, set_microcredential
from tests.badge_road import badge_row, earn_badge

pytestmark = pytest.mark.usefixtures("running_term")

TITLE = "Educator Self-Assessment and Professional Growth"


# -- reading pages --------------------------------------------------------------------------------------------
@dataclass
class Page:
    url: str
    status: int
    text: str
    headers: dict
    meta: dict = field(default_factory=dict)  # property or name → content
    links: list[str] = field(default_factory=list)  # every href/src, absolute
    elements: dict = field(default_factory=dict)  # id → text inside

    def text_of(self, element_id: str) -> str:
        return " ".join(self.elements.get(element_id, "").split())


class _Reader(HTMLParser):
    def __init__(self, base: str):
        super().__init__()
        self.base, self.meta, self.links, self.elements, self._open = base, {}, [], {}, []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "meta" and attributes.get("content") is not None:
            self.meta[attributes.get("property") or attributes.get("name")] = attributes["content"]
        for name in ("href", "src"):
            if attributes.get(name):
                self.links.append(urljoin(self.base, attributes[name]))
        if attributes.get("id"):
            self._open.append([attributes["id"], tag, 0])
            self.elements[attributes["id"]] = ""
        for entry in self._open:
            if entry[1] == tag:
                entry[2] += 1

    def handle_endtag(self, tag):
        for entry in list(self._open):
            if entry[1] == tag:
                entry[2] -= 1
                if entry[2] == 0:
                    self._open.remove(entry)

    def handle_data(self, data):
        for element_id, _, _ in self._open:
            self.elements[element_id] += data


def visit(url: str, **params) -> Page:
    response = requests.get(url, params=params, timeout=30, allow_redirects=False)
    page = Page(response.url, response.status_code, response.text, dict(response.headers))
    if response.headers.get("Content-Type", "").startswith("text/html"):
        reader = _Reader(response.url)
        reader.feed(response.text)
        page.meta, page.links, page.elements = reader.meta, reader.links, reader.elements
    return page


def follow_every_link(page: Page, tool: str, expected: dict | None = None) -> list[str]:
    """GET every address the page names on the tool's site: each answers 200 (or as `expected` says).
    Addresses elsewhere (the issuer's own site, mailto:) are only returned, not fetched (tests stay offline)."""
    expected = expected or {}
    outside = []
    for link in dict.fromkeys(page.links):
        if not link.startswith(tool + "/"):
            outside.append(link)
            continue
        answer = requests.get(link, timeout=30, allow_redirects=False)
        assert answer.status_code == expected.get(link, 200), f"{link} answered {answer.status_code}"
    return outside


# -- the badge in the database (as an admin or the earner would change it) ------------------------------------
def change_badge(app, badge_uuid: str, **values) -> None:
    from lti_tool.badges.models import Badge
    from lti_tool.extensions import db

    with app.app_context():
        badge = db.session.scalar(db.select(Badge).where(Badge.uuid == badge_uuid))
        for name, value in values.items():
            setattr(badge, name, value)
        db.session.commit()


def revoke(app, badge_uuid: str, reason: str) -> None:
    from lti_tool.badges import issuing
    from lti_tool.badges.models import Badge
    from lti_tool.extensions import db

    with app.app_context():
        badge = db.session.scalar(db.select(Badge).where(Badge.uuid == badge_uuid))
        issuing.revoke(badge, None, reason)
        db.session.commit()


def with_badge(app, badge_uuid: str, call):
    """`call(badge)` in an app context (for the presentation helpers), its result."""
    from lti_tool.badges.models import Badge
    from lti_tool.extensions import db

    with app.app_context():
        return call(db.session.scalar(db.select(Badge).where(Badge.uuid == badge_uuid)))


def make_profile(app, user_id: int, *, public: bool, slug: str = "page-of-an-earner-7f3a") -> str:
    from lti_tool.badges.models import EarnerProfile
    from lti_tool.extensions import db

    with app.app_context():
        profile = db.session.scalar(db.select(EarnerProfile).where(EarnerProfile.user_id == user_id))
        if profile is None:
            profile = EarnerProfile(user_id=user_id, public_slug=slug)
            db.session.add(profile)
        profile.is_public = public
        db.session.commit()
        return profile.public_slug


def date_label(moment) -> str:
    return f"{moment.day} {moment:%B %Y}"


@pytest.fixture
def earned(app, platform, live_tool):
    """A badge issued to Ada Lovelace; (its row, its verification page URL)."""
    result = earn_badge(app, platform)
    assert result.badge_uuid, "the release issued no badge"
    badge = badge_row(app, result.assessment_id)
    assert badge.status == "issued"
    return badge, f"{live_tool.url}/badges/{badge.uuid}"


# -- the verification page ------------------------------------------------------------------------------------
def test_the_verification_page_of_a_valid_badge_says_who_issued_what_to_whom_and_that_it_is_valid(
        app, earned, live_tool):
    badge, url = earned
    page = visit(url)
    assert page.status == 200
    assert page.text_of("verdict").startswith("✓ Valid")
    assert TITLE in page.text
    assert "Division of Elementary and Secondary Education" in page.text
    assert page.text_of("earner") == "Ada Lovelace"
    assert f"Issued on</dt><dd>{date_label(badge.issued_at)}" in page.text
    assert "<dt>Expires</dt><dd>Never</dd>" in page.text
    for check in ("Signature", "Credential", "Status", "Expiry"):
        assert f'<th scope="row">{check}</th>\n      <td class="result passed">✓ Passed</td>' in page.text
    assert f'href="/badges/achievements/{SLUG}"' in page.text  # the criteria page
    assert f'href="{live_tool.url}/ob/v2/assertions/{badge.uuid}"' in page.text
    assert f'href="{live_tool.url}/ob/v3/credentials/{badge.uuid}"' in page.text
    # Nobody made a public page: search engines are asked not to list it.
    assert page.meta["robots"] == "noindex"
    # A public page carries no launch: no link into the LMS's pages of the tool.
    assert "ltik" not in page.text and 'aria-label="Tool"' not in page.text


def test_the_open_graph_tags_name_the_micro_credential_and_absolute_addresses_that_answer(app, earned, live_tool):
    badge, url = earned
    page = visit(url)
    assert page.meta["og:title"] == TITLE
    assert page.meta["og:type"] == "website"
    assert page.meta["og:url"] == url
    assert "Division of Elementary and Secondary Education issued this Open Badge to Ada Lovelace" in \
        page.meta["og:description"]
    assert page.meta["twitter:card"] == "summary"
    assert page.meta["og:image"] == page.meta["twitter:image"] == f"{live_tool.url}/badges/{badge.uuid}/badge.png"
    image = requests.get(page.meta["og:image"], timeout=30)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert b"openbadges" in image.content  # the baked one, not the bare artwork
    assert visit(page.meta["og:url"]).status == 200


def test_every_link_on_the_page_answers(app, earned, live_tool):
    _, url = earned
    page = visit(url)
    outside = follow_every_link(page, live_tool.url)
    assert all(urlsplit(link).scheme in ("http", "https", "mailto") for link in outside), outside
    assert len(page.links) - len(outside) >= 10


@pytest.mark.parametrize(("what", "content_type", "extension"), [
    ("badge.png?download=1", "image/png", "png"),
    ("badge.svg?download=1", "image/svg+xml", "svg"),
    ("credential.jwt", "application/vc+jwt", "jwt"),
    ("assertion.json", "application/json", "json"),
])
def test_the_downloads_answer_with_their_type_and_an_attachment_name(app, earned, live_tool, what, content_type,
                                                                    extension):
    badge, url = earned
    assert f'href="/badges/{badge.uuid}/{what}"' in visit(url).text.replace("&amp;", "&")
    answer = requests.get(f"{url}/{what}", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].split(";")[0] == content_type
    assert answer.headers["Content-Disposition"] == \
        f'attachment; filename="{SLUG}-badge-{badge.uuid[:8]}.{extension}"'
    if extension == "jwt":
        assert answer.text == badge.credential_jwt
    if extension == "json":
        assert answer.json()["id"] == f"{live_tool.url}/ob/v2/assertions/{badge.uuid}"


def test_a_link_carrying_a_launch_reference_still_shows_no_launch_navigation(app, platform, live_tool):
    result = earn_badge(app, platform)
    page = visit(f"{live_tool.url}/badges/{result.badge_uuid}", ltik=result.submitted.ltik)
    assert page.status == 200
    assert 'aria-label="Tool"' not in page.text and "Library of Micro-Credentials" not in page.text


# -- revocation, expiry, tampering ----------------------------------------------------------------------------
def test_a_revoked_badge_says_when_and_why_and_its_assertion_is_gone(app, earned, live_tool):
    badge, url = earned
    revoke(app, badge.uuid, "Plagiarised artifacts")
    revoked = badge_row(app, badge.assessment_id)
    page = visit(url)
    assert page.status == 200
    assert page.text_of("verdict").startswith(f"✗ Revoked on {date_label(revoked.revoked_at)}: Plagiarised artifacts")
    assert '<th scope="row">Status</th>\n      <td class="result failed">✗ Failed</td>' in page.text
    assert "credential.jwt" not in page.text  # nothing to download from a revoked badge
    assertion = f"{live_tool.url}/ob/v2/assertions/{badge.uuid}"
    gone = requests.get(assertion, timeout=30)
    assert gone.status_code == 410 and gone.json()["revoked"] is True
    follow_every_link(page, live_tool.url, expected={assertion: 410})
    card = visit(f"{url}/embed")
    assert f"✗ Revoked on {date_label(revoked.revoked_at)}<" in card.text


def test_a_badge_past_its_expiry_says_expired_and_one_before_it_says_until_when(app, platform, live_tool):
    set_microcredential(app, badge_valid_months=12)
    result = earn_badge(app, platform)
    badge = badge_row(app, result.assessment_id)
    assert badge.expires_at is not None
    url = f"{live_tool.url}/badges/{badge.uuid}"
    page = visit(url)
    assert page.text_of("verdict").startswith("✓ Valid")
    assert f"<dt>Expires</dt><dd>{date_label(badge.expires_at)}</dd>" in page.text

    past = badge.issued_at - timedelta(days=1)
    change_badge(app, badge.uuid, expires_at=past)
    page = visit(url)
    assert page.text_of("verdict").startswith(f"✗ Expired on {date_label(past)}")
    assert '<th scope="row">Expiry</th>\n      <td class="result failed">✗ Failed</td>' in page.text
    assert f"✗ Expired on {date_label(past)}</p>" in visit(f"{url}/embed").text


def test_a_tampered_credential_is_not_valid(app, earned):
    badge, url = earned
    header, payload, signature = badge.credential_jwt.split(".")
    forged_signature = ("A" if signature[0] != "A" else "B") + signature[1:]
    change_badge(app, badge.uuid, credential_jwt=f"{header}.{payload}.{forged_signature}")
    page = visit(url)
    assert page.status == 200
    assert page.text_of("verdict").startswith("✗ Not valid: The signature does not verify")
    assert '<th scope="row">Signature</th>\n      <td class="result failed">✗ Failed</td>' in page.text
    assert "✓ Valid" not in page.text
    assert "✗ Not valid</p>" in visit(f"{url}/embed").text


def test_the_credential_of_another_badge_is_not_valid_for_this_one(app, platform, live_tool):
    first = earn_badge(app, platform)
    second = earn_badge(app, platform, person="learner-2")
    other = badge_row(app, second.assessment_id)
    change_badge(app, first.badge_uuid, credential_jwt=other.credential_jwt)
    page = visit(f"{live_tool.url}/badges/{first.badge_uuid}")
    assert page.text_of("verdict").startswith("✗ Not valid: The credential names another badge.")


# -- the earner's name ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("choice", "shown"), [
    ("full", "Ada Lovelace"),
    ("initials", "Ada L."),
    ("hidden", "the earner chose not to show their name"),
])
def test_the_page_shows_only_the_name_the_earner_chose(app, earned, choice, shown):
    badge, url = earned
    change_badge(app, badge.uuid, display_name=choice)
    for address in (url, f"{url}/embed"):
        page = visit(address)
        if choice != "full":
            assert "Lovelace" not in page.text, address
    page = visit(url)
    assert page.text_of("earner") == shown
    if choice == "hidden":
        assert " to " not in page.meta["og:description"].split(" on ")[0]
        assert "Ada" not in page.text


def test_the_sharing_helpers_name_the_earners_choice_and_the_credential(app, earned, live_tool):
    from lti_tool.badges import presentation

    badge, url = earned
    assert with_badge(app, badge.uuid, presentation.display_name) == "Ada Lovelace"
    change_badge(app, badge.uuid, display_name="initials")
    assert with_badge(app, badge.uuid, presentation.display_name) == "Ada L."
    change_badge(app, badge.uuid, display_name="hidden")
    assert with_badge(app, badge.uuid, presentation.display_name) is None

    linkedin = urlsplit(with_badge(app, badge.uuid, presentation.linkedin_add_to_profile_url))
    assert f"{linkedin.scheme}://{linkedin.netloc}{linkedin.path}" == "https://www.linkedin.com/profile/add"
    params = {key: values[0] for key, values in parse_qs(linkedin.query).items()}
    assert params == {
        "startTask": "CERTIFICATION_NAME", "name": TITLE,
        "organizationName": "Division of Elementary and Secondary Education",
        "issueYear": str(badge.issued_at.year), "issueMonth": str(badge.issued_at.month),
        "certUrl": url, "certId": badge.uuid,
    }
    assert visit(params["certUrl"]).status == 200

    expires = badge.issued_at.replace(year=badge.issued_at.year + 2, month=3, day=1)
    change_badge(app, badge.uuid, expires_at=expires)
    params = parse_qs(urlsplit(with_badge(app, badge.uuid, presentation.linkedin_add_to_profile_url)).query)
    assert params["expirationYear"] == [str(expires.year)] and params["expirationMonth"] == ["3"]

    for what, content_type in (("png", "image/png"), ("svg", "image/svg+xml"), ("jwt", "application/vc+jwt"),
                               ("json", "application/json")):
        answer = requests.get(with_badge(app, badge.uuid, lambda b, w=what: presentation.download_url(b, w)),
                              timeout=30)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(content_type)
        assert answer.headers["Content-Disposition"].startswith("attachment; ")

    links = dict(with_badge(app, badge.uuid, presentation.share_links))
    assert set(links) == {"Share on X (Twitter)", "Share on Facebook", "Share by email"}
    assert parse_qs(urlsplit(links["Share on X (Twitter)"]).query)["url"] == [url]
    assert parse_qs(urlsplit(links["Share on Facebook"]).query)["u"] == [url]
    mail = urlsplit(links["Share by email"])
    assert mail.scheme == "mailto" and "+" not in mail.query  # RFC 6068: spaces are %20
    assert url in parse_qs(mail.query)["body"][0]


# -- what does not exist to the public ------------------------------------------------------------------------
def test_a_badge_waiting_for_its_earners_email_has_no_public_page(app, platform, live_tool):
    result = earn_badge(app, platform, share_email=False)
    badge = badge_row(app, result.assessment_id)
    assert badge.status == "awaiting_email"
    for suffix in ("", "/embed", "/badge.png", "/credential.jwt", "/assertion.json"):
        assert requests.get(f"{live_tool.url}/badges/{badge.uuid}{suffix}", timeout=30).status_code == 404, suffix
    from lti_tool.badges import presentation

    for helper in (presentation.embed_snippet, presentation.linkedin_add_to_profile_url, presentation.share_links):
        with pytest.raises(ValueError, match="not issued yet"):
            with_badge(app, badge.uuid, helper)


@pytest.mark.parametrize("name", [str(uuid.uuid4()), "not-a-badge", "00000000-0000-0000-0000-00000000000g",
                                  "%27%3B--", "a" * 300])
def test_an_unknown_or_garbled_badge_is_not_found(app, catalog, live_tool, name):
    for suffix in ("", "/embed"):
        answer = requests.get(f"{live_tool.url}/badges/{name}{suffix}", timeout=30)
        assert answer.status_code == 404, (name, suffix)
        assert "There is no such badge." in answer.text


# -- the criteria and issuer pages ----------------------------------------------------------------------------
def test_the_criteria_page_states_the_competency_the_alignment_points_at_and_the_rubric(app, earned, live_tool):
    assertion = requests.get(f"{live_tool.url}/ob/v2/assertions/{earned[0].uuid}", timeout=30).json()
    badgeclass = requests.get(assertion["badge"], timeout=30).json()
    target = badgeclass["alignment"][0]["targetUrl"]
    address, _, anchor = target.partition("#")
    assert address == badgeclass["criteria"]["id"] == f"{live_tool.url}/badges/achievements/{SLUG}"
    page = visit(address)
    assert page.status == 200
    assert anchor == "competency" and page.text_of("competency") == " ".join(badgeclass["alignment"][0][
        "targetDescription"].split())
    assert TITLE in page.text and "Division of Elementary and Secondary Education" in page.text
    assert "Key method" in page.text and "<dt>In-service hours</dt><dd>6 hours</dd>" in page.text
    assert '<th scope="col" class="required-level">Demonstrated <span class="ok">(required)</span></th>' in page.text
    assert page.meta.get("robots") is None  # the catalog is public: it may be listed
    image = next(link for link in page.links if "/badges/images/" in link)
    assert requests.get(image, timeout=30).headers["Content-Type"] == "image/png"
    follow_every_link(page, live_tool.url)


def test_the_issuer_page_counts_the_badges_it_issued_and_links_its_document(app, earned, live_tool):
    badge, url = earned
    issuer_link = next(link for link in visit(url).links if "/badges/issuers/" in link)
    page = visit(issuer_link)
    assert page.status == 200
    assert "Division of Elementary and Secondary Education" in page.text
    assert page.text_of("issued-count") == "1"
    document = next(link for link in page.links if "/ob/v2/issuers/" in link)
    answer = requests.get(document, timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/ld+json"
    assert answer.json()["type"] == "Issuer"
    follow_every_link(page, live_tool.url)

    revoke(app, badge.uuid, "Issued in error")
    assert visit(issuer_link).text_of("issued-count") == "0"


# -- the embeddable card --------------------------------------------------------------------------------------
def test_any_site_may_frame_the_card_and_only_the_card(app, earned, live_tool):
    from lti_tool.badges import presentation

    badge, url = earned
    card = visit(f"{url}/embed")
    assert card.status == 200
    assert card.headers["Content-Security-Policy"].endswith("; frame-ancestors *")
    assert TITLE in card.text and "Earned by Ada Lovelace" in card.text and "✓ Valid" in card.text
    assert "Division of Elementary and Secondary Education" in card.text
    assert f"Issued {date_label(badge.issued_at)}" in card.text
    assert f'<a href="{url}" target="_blank" rel="noopener">Verify' in card.text
    assert card.meta["robots"] == "noindex"
    follow_every_link(card, live_tool.url)

    for address in (url, f"{live_tool.url}/badges/achievements/{SLUG}"):
        policy = visit(address).headers["Content-Security-Policy"]
        assert policy.endswith("; frame-ancestors 'self'"), address

    snippet = with_badge(app, badge.uuid, presentation.embed_snippet)
    assert snippet == (f'<iframe src="{url}/embed" title="{TITLE} badge" width="340" height="170" '
                       'style="border:0" loading="lazy"></iframe>')
    fallback = with_badge(app, badge.uuid, presentation.image_link_snippet)
    assert fallback.startswith(f'<a href="{url}"><img src="{url}/badge.png" alt="{TITLE} — Open Badge issued by ')


# -- the earner's public page ---------------------------------------------------------------------------------
def test_an_earners_page_answers_only_when_they_made_it_public(app, earned, live_tool):
    badge, url = earned
    slug = make_profile(app, badge.user_id, public=False)
    private = requests.get(f"{live_tool.url}/earners/{slug}", timeout=30)
    unknown = requests.get(f"{live_tool.url}/earners/no-such-earner", timeout=30)
    assert private.status_code == unknown.status_code == 404
    assert "This page is not public." in private.text
    assert private.text == unknown.text  # a private page and no page answer alike

    make_profile(app, badge.user_id, public=True)
    from lti_tool.badges import presentation

    with app.app_context():
        address = presentation.earner_page_url(presentation.public_profile(slug))
    assert address == f"{live_tool.url}/earners/{slug}"
    page = visit(address)
    assert page.status == 200
    assert "<h1>Badges of Ada Lovelace</h1>" in page.text
    assert url in [link for link in page.links if "/embed" not in link]
    assert f"{url}/badge.png" in page.links
    assert f"Issued {date_label(badge.issued_at)}" in page.text
    assert page.meta.get("robots") is None
    assert visit(url).meta.get("robots") is None  # the earner went public: their badges' pages may be listed
    follow_every_link(page, live_tool.url)


def test_an_earners_page_lists_issued_badges_only_under_the_most_private_name_choice(app, platform, live_tool):
    kept = earn_badge(app, platform, resource_link_id="activity-1")
    badge = badge_row(app, kept.assessment_id)
    slug = make_profile(app, badge.user_id, public=True)
    change_badge(app, badge.uuid, display_name="initials")
    page = visit(f"{live_tool.url}/earners/{slug}")
    assert "<h1>Badges of Ada L.</h1>" in page.text and "Lovelace" not in page.text

    change_badge(app, badge.uuid, display_name="hidden")
    page = visit(f"{live_tool.url}/earners/{slug}")
    assert "<h1>An educator&#39;s badges</h1>" in page.text and "Ada" not in page.text

    revoke(app, badge.uuid, "Issued in error")
    page = visit(f"{live_tool.url}/earners/{slug}")
    assert page.status == 200 and badge.uuid not in page.text and "No badges to show yet." in page.text


@pytest.mark.parametrize(("choices", "heading"), [
    (["full"], "Ada Lovelace"),
    (["full", "initials"], "Ada L."),
    (["initials", "full", "full"], "Ada L."),
    (["full", "hidden", "initials"], None),
    ([], None),
])
def test_the_name_heading_an_earners_page_follows_the_most_private_choice_of_its_badges(choices, heading):
    from types import SimpleNamespace

    from lti_tool.badges.presentation import earner_page_name

    badges = [SimpleNamespace(display_name=choice, earner_name="Ada Lovelace") for choice in choices]
    assert earner_page_name(badges) == heading
