"""How a badge shows itself to the public: the earner's name as they chose, its status in one line, the embed
snippets and the sharing links — one place, used by the public pages, the earner's panel and the emails.

Sharing is by link only (no third-party script runs on any page of the tool). Every URL made here is absolute
(`badges.urls`): outside a request it needs BASE_URL. A badge still waiting for its earner's email
has no public page: the sharing helpers refuse it (ValueError) rather than hand out a link that answers 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

from markupsafe import Markup

from lti_tool.badges import achievements, urls
from lti_tool.badges.models import Badge, BadgeStatus, DisplayName, EarnerProfile
from lti_tool.extensions import db

HIDDEN_NAME = "the earner chose not to show their name"
UNKNOWN_NAME = "the LMS did not share the earner's name"
EMBED_WIDTH, EMBED_HEIGHT = 340, 170
LINKEDIN_ADD_TO_PROFILE = "https://www.linkedin.com/profile/add"
# The stricter choice wins where one name stands for several badges (the earner's public page).
_PRIVACY_ORDER = (DisplayName.FULL, DisplayName.INITIALS, DisplayName.HIDDEN)


# -- the earner's name ----------------------------------------------------------------------------------------
def initials_of(name: str | None) -> str | None:
    """"Ada Lovelace" → "Ada L."; "Ada King Lovelace" → "Ada L."; a single name stays as it is."""
    words = (name or "").split()
    if not words:
        return None
    if len(words) == 1:
        return words[0]
    return f"{words[0]} {words[-1][0].upper()}."


def name_for(choice: str, earner_name: str | None) -> str | None:
    """The name shown for a display-name choice; None when the earner hid it or the LMS gave none."""
    if choice == DisplayName.HIDDEN:
        return None
    if choice == DisplayName.INITIALS:
        return initials_of(earner_name)
    return (earner_name or "").strip() or None


def display_name(badge: Badge) -> str | None:
    """The earner's name as the badge's public pages show it (`Badge.display_name`), or None to show none."""
    return name_for(badge.display_name, badge.earner_name)


def display_name_label(badge: Badge) -> str:
    """The name, or a sentence saying why there is none (the pages always say something)."""
    name = display_name(badge)
    if name is not None:
        return name
    return HIDDEN_NAME if badge.display_name == DisplayName.HIDDEN else UNKNOWN_NAME


def strictest_choice(badges) -> str:
    """The most private display-name choice among these badges (FULL when there are none)."""
    ranks = [_PRIVACY_ORDER.index(DisplayName(b.display_name)) for b in badges]
    return _PRIVACY_ORDER[max(ranks, default=0)].value


# -- dates and status -----------------------------------------------------------------------------------------
def date_label(moment: datetime | None) -> str:
    """"15 June 2027" (UTC), as the pages write dates of badges."""
    return f"{moment.day} {moment:%B %Y}" if moment is not None else ""


def status_line(badge: Badge, verdict) -> str:
    """The live check in one sentence: "Valid", "Revoked on …: reason", "Expired on …", "Not valid: …"."""
    if verdict.state == "valid":
        return "Valid"
    if verdict.state == "revoked":
        when = f" on {date_label(badge.revoked_at)}" if badge.revoked_at else ""
        return f"Revoked{when}: {badge.revocation_reason or 'revoked by the issuer'}"
    if verdict.state == "expired":
        return f"Expired on {date_label(badge.expires_at)}"
    failed = next((check for check in verdict.checks if not check.ok), None)
    return f"Not valid: {failed.message if failed else 'the credential could not be checked.'}"


def short_status(badge: Badge, verdict) -> str:
    """The status without the reason, for the small card: "Valid", "Revoked on …", "Expired on …", "Not valid"."""
    if verdict.state == "revoked":
        return f"Revoked on {date_label(badge.revoked_at)}" if badge.revoked_at else "Revoked"
    if verdict.state == "invalid":
        return "Not valid"
    return status_line(badge, verdict)


@dataclass(frozen=True)
class PublicFacts:
    """What the public pages show of one badge, worked out once for the page, the card and the earner's list."""

    badge: Badge
    verdict: object | None  # verification.Verdict, when the page shows the live check
    status: str  # the live check in one line ("" without a verdict)
    short_status: str  # the same, without the reason (the card)
    earner: str | None  # the name shown, or None
    earner_label: str  # the name, or why there is none
    issued_on: str
    expires_on: str
    revoked_on: str
    description: str  # the achievement's
    page_url: str  # the verification page
    image_url: str  # the baked PNG
    assertion_url: str  # OB 2.0
    credential_url: str  # OB 3.0


def public_facts(badge: Badge, verdict=None) -> PublicFacts:
    """The facts of an issued or revoked badge, with the status line when the live check's verdict is given."""
    _public(badge)
    return PublicFacts(
        badge=badge, verdict=verdict, status=status_line(badge, verdict) if verdict is not None else "",
        short_status=short_status(badge, verdict) if verdict is not None else "",
        earner=display_name(badge), earner_label=display_name_label(badge),
        issued_on=date_label(badge.issued_at), expires_on=date_label(badge.expires_at),
        revoked_on=date_label(badge.revoked_at), description=achievements.description_of(badge.microcredential),
        page_url=urls.verification(badge.uuid), image_url=urls.baked_image(badge.uuid, "png"),
        assertion_url=urls.assertion_v2(badge.uuid), credential_url=urls.credential_v3(badge.uuid),
    )


# -- addresses ------------------------------------------------------------------------------------------------
def _public(badge: Badge) -> None:
    if badge.status not in (BadgeStatus.ISSUED, BadgeStatus.REVOKED):
        raise ValueError("This badge is not issued yet: it has no public page to share.")


def embed_url(badge: Badge) -> str:
    return urls.embed(badge.uuid)


def earner_page_url(profile: EarnerProfile) -> str:
    return urls.earner_page(profile.public_slug)


def download_url(badge: Badge, what: str) -> str:
    """`png`, `svg` (baked, as attachments), `jwt` (OB 3.0 credential) or `json` (OB 2.0 assertion)."""
    return urls.download(badge.uuid, what)


# -- embedding ------------------------------------------------------------------------------------------------
def embed_snippet(badge: Badge) -> str:
    """HTML for a web page or an LMS: the badge's card in an iframe (the card may be framed by any site)."""
    _public(badge)
    title = f"{badge.microcredential.title} badge"
    return str(Markup(
        '<iframe src="{src}" title="{title}" width="{width}" height="{height}" style="border:0" loading="lazy">'
        "</iframe>"
    ).format(src=embed_url(badge), title=title, width=EMBED_WIDTH, height=EMBED_HEIGHT))


def image_link_snippet(badge: Badge) -> str:
    """HTML for editors that strip iframes: the baked image, linked to the verification page."""
    _public(badge)
    alt = f"{badge.microcredential.title} — Open Badge issued by {badge.issuer_profile.name}. Verify it."
    return str(Markup('<a href="{href}"><img src="{src}" alt="{alt}" width="{size}" height="{size}"></a>').format(
        href=urls.verification(badge.uuid), src=urls.baked_image(badge.uuid, "png"), alt=alt, size=EMBED_HEIGHT))


# -- sharing --------------------------------------------------------------------------------------------------
def linkedin_add_to_profile_url(badge: Badge) -> str:
    """LinkedIn's "Add to Profile" link for a certification: name, organization, issue (and expiry) month and
    year, the credential's URL (the verification page) and its id (the badge's uuid)."""
    _public(badge)
    params = [
        ("startTask", "CERTIFICATION_NAME"),
        ("name", badge.microcredential.title),
        ("organizationName", badge.issuer_profile.name),
        ("issueYear", str(badge.issued_at.year)),
        ("issueMonth", str(badge.issued_at.month)),
    ]
    if badge.expires_at is not None:
        params += [("expirationYear", str(badge.expires_at.year)), ("expirationMonth", str(badge.expires_at.month))]
    params += [("certUrl", urls.verification(badge.uuid)), ("certId", badge.uuid)]
    return f"{LINKEDIN_ADD_TO_PROFILE}?{urlencode(params)}"


def share_text(badge: Badge) -> str:
    return f"I earned the micro-credential “{badge.microcredential.title}” from {badge.issuer_profile.name}."


def share_links(badge: Badge) -> list[tuple[str, str]]:
    """(label, url) to share the verification page on other networks, by link only."""
    _public(badge)
    page, text = urls.verification(badge.uuid), share_text(badge)
    subject = f"My Open Badge: {badge.microcredential.title}"
    body = f"{text}\n\nAnyone can verify it here: {page}\n"
    return [
        ("Share on X (Twitter)", "https://twitter.com/intent/tweet?" + urlencode({"text": text, "url": page})),
        ("Share on Facebook", "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": page})),
        # RFC 6068: spaces as %20 (not +), line breaks as %0D%0A.
        ("Share by email", f"mailto:?subject={quote(subject, safe='')}&body="
                           f"{quote(body.replace(chr(10), chr(13) + chr(10)), safe='')}"),
    ]


# -- the earner's public page ---------------------------------------------------------------------------------
def earner_profile(user_id: int) -> EarnerProfile | None:
    return db.session.scalar(db.select(EarnerProfile).where(EarnerProfile.user_id == user_id))


def public_profile(public_slug: str) -> EarnerProfile | None:
    """The profile behind a public page, only when its earner made it public (else None, as for no profile)."""
    profile = db.session.scalar(db.select(EarnerProfile).where(EarnerProfile.public_slug == public_slug))
    return profile if profile is not None and profile.is_public else None


def is_indexable(badge: Badge) -> bool:
    """Search engines may list a badge's page only when its earner made their public page visible."""
    profile = earner_profile(badge.user_id)
    return bool(profile and profile.is_public)


def listed_badges(profile: EarnerProfile) -> list[Badge]:
    """What an earner's public page lists: their issued badges (not revoked, not waiting), newest first."""
    return list(db.session.scalars(db.select(Badge).where(
        Badge.user_id == profile.user_id, Badge.status == BadgeStatus.ISSUED.value,
    ).order_by(Badge.issued_at.desc(), Badge.id.desc())))


def earner_page_name(badges: list[Badge]) -> str | None:
    """The name heading an earner's page: it stands for every badge listed, so the strictest choice applies."""
    if not badges:
        return None
    return name_for(strictest_choice(badges), badges[0].earner_name)
