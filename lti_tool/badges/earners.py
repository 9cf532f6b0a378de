"""The earner's own choices about their badges: a public page, the name shown, an email proved by a link.

Services in Indico's sense: they change data, flush and log, and never commit (the request does). Limits are
counted from rows already kept (the confirmations sent, the badge's audit log), so they hold across any number
of web processes without a shared counter.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError

from lti_tool.badges import issuing
from lti_tool.badges.identity import normalise_email
from lti_tool.badges.models import Badge, BadgeEvent, BadgeStatus, DisplayName, EarnerProfile, EmailConfirmation
from lti_tool.core import addresses
from lti_tool.core.errors import Conflict, DomainError, InvalidInput, NotFound, TooManyRequests
from lti_tool.core.models import utcnow
from lti_tool.core.urls import external_url
from lti_tool.extensions import db
from lti_tool.lti.models import LtiUser
from lti_tool.mail import outbox

CONFIRMATION_LIFETIME = timedelta(hours=24)
CONFIRMATIONS_PER_HOUR = 5  # per person: the form cannot be used to flood somebody's mailbox
SELF_EMAILS_PER_HOUR = 3  # per badge: "Email it to me"
MAX_EMAIL_LENGTH = addresses.MAX_EMAIL_LENGTH
EMAILED_TO_SELF = "emailed to self"
# One "@", no spaces, and nothing that an address header would read differently (quotes, brackets, commas).
_EMAIL_SHAPE = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+$")


class ConfirmationExpired(DomainError):
    status = 410
    title = "This link expired"


class ConfirmationUsed(Conflict):
    """Anyone may hold a used link (a forwarded email, a shared computer): the answer names nobody and nothing."""

    title = "This link was used already"
    MESSAGE = ("This link was used already. Your badges are in your course: open the activity and choose "
               "My badges.")

    def __init__(self):
        super().__init__(self.MESSAGE)


# -- the profile ----------------------------------------------------------------------------------------------
def find_profile(user_id: int) -> EarnerProfile | None:
    return db.session.scalar(db.select(EarnerProfile).where(EarnerProfile.user_id == user_id))


def profile_for(user) -> EarnerProfile:
    """The earner's profile, made on first need with a random, unguessable public slug."""
    profile = find_profile(user.id)
    if profile is not None:
        return profile
    profile = EarnerProfile(user_id=user.id, public_slug=secrets.token_urlsafe(12), is_public=False)
    try:
        with db.session.begin_nested():  # two first requests at once: the second reads the first's row
            db.session.add(profile)
    except IntegrityError:
        profile = find_profile(user.id)
        if profile is None:
            raise
    return profile


def set_public(user, is_public: bool) -> EarnerProfile:
    """Show or hide the earner's public "my badges" page (hidden until they choose otherwise)."""
    profile = profile_for(user)
    profile.is_public = bool(is_public)
    db.session.flush()
    return profile


# -- the badges -----------------------------------------------------------------------------------------------
def badges_of(user_id: int) -> list[Badge]:
    """Every badge of one person, newest first."""
    return list(db.session.scalars(
        db.select(Badge).where(Badge.user_id == user_id).order_by(Badge.earned_at.desc(), Badge.id.desc())))


def own_badge(user_id: int, badge_uuid: str) -> Badge:
    """A badge of this person; anyone else's (or none) is simply not found."""
    badge = db.session.scalar(db.select(Badge).where(Badge.uuid == (badge_uuid or "")[:36]))
    if badge is None or badge.user_id != user_id:
        raise NotFound("There is no such badge among yours.", hint="Open your badges from your course again.")
    return badge


def set_display_name(badge: Badge, choice: str, actor_id: int) -> Badge:
    """What the public pages show of the earner's name: full, initials or nothing."""
    try:
        chosen = DisplayName(choice)
    except ValueError:
        raise InvalidInput("Choose the full name, the initials, or no name.") from None
    if badge.display_name != chosen.value:
        issuing.log(badge, actor_id, "display name", shown=chosen.value)
        badge.display_name = chosen.value
    db.session.flush()
    return badge


def _self_emails_since(badge: Badge, since: datetime) -> int:
    return db.session.scalar(db.select(func.count(BadgeEvent.id)).where(
        BadgeEvent.badge_id == badge.id, BadgeEvent.action == EMAILED_TO_SELF, BadgeEvent.at > since)) or 0


def email_to_self(badge: Badge, actor_id: int, *, now: datetime | None = None) -> None:
    """Queue the issue email again (baked PNG and record of completion attached), at most 3 times an hour."""
    now = now or utcnow()
    if badge.status != BadgeStatus.ISSUED.value or not badge.recipient_email:
        raise Conflict("Only an issued badge can be emailed.",
                       hint="A revoked badge is not sent; a badge waiting for your email is sent once it is issued.")
    if _self_emails_since(badge, now - timedelta(hours=1)) >= SELF_EMAILS_PER_HOUR:
        raise TooManyRequests(
            f"This badge was emailed to you {SELF_EMAILS_PER_HOUR} times in the last hour already.",
            hint="Look in your mailbox (and its spam folder) first; you can send it again within the hour.")
    outbox.enqueue("badge_issued", badge.recipient_email, issuing.mail_payload(badge))
    db.session.add(BadgeEvent(badge=badge, actor_id=actor_id, action=EMAILED_TO_SELF, details={}, at=now))
    db.session.flush()


# -- proving an email address ---------------------------------------------------------------------------------
def clean_email(text: str | None) -> str:
    """The address as kept (trimmed, lower case), or InvalidInput saying what is wrong with it."""
    address = (text or "").strip()
    if not address:
        raise InvalidInput("Enter your email address.")
    if len(address) > MAX_EMAIL_LENGTH:
        raise InvalidInput(f"An email address has at most {MAX_EMAIL_LENGTH} characters.")
    if address.count("@") != 1 or not _EMAIL_SHAPE.match(address):
        raise InvalidInput("Enter an email address like name@example.org: one “@”, no spaces.")
    domain = address.rsplit("@", 1)[1]
    if "." not in domain or domain.startswith(".") or domain.endswith(".") or ".." in domain:
        raise InvalidInput("The part after the “@” should be a domain with a dot, like example.org.")
    return normalise_email(address)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _waiting_badges(user_id: int) -> list[Badge]:
    return list(db.session.scalars(db.select(Badge).where(
        Badge.user_id == user_id, Badge.status == BadgeStatus.AWAITING_EMAIL.value)))


def has_waiting_badge(user_id: int) -> bool:
    return bool(_waiting_badges(user_id))


def pending_confirmation(user_id: int, *, now: datetime | None = None) -> EmailConfirmation | None:
    """The newest confirmation link still usable (the one the page tells about)."""
    return db.session.scalar(db.select(EmailConfirmation).where(
        EmailConfirmation.user_id == user_id, EmailConfirmation.confirmed_at.is_(None),
        EmailConfirmation.expires_at > (now or utcnow())).order_by(EmailConfirmation.id.desc()).limit(1))


def start_confirmation(user, text: str, *, now: datetime | None = None) -> EmailConfirmation:
    """Send a single-use link that proves the address; only its SHA-256 is kept. Earlier links stop working."""
    now = now or utcnow()
    email = clean_email(text)
    if not has_waiting_badge(user.id):
        raise Conflict("None of your badges is waiting for an email address.")
    sent = db.session.scalar(db.select(func.count(EmailConfirmation.id)).where(
        EmailConfirmation.user_id == user.id, EmailConfirmation.created_at > now - timedelta(hours=1))) or 0
    if sent >= CONFIRMATIONS_PER_HOUR:
        raise TooManyRequests(
            f"{CONFIRMATIONS_PER_HOUR} confirmation emails were sent in the last hour already.",
            hint="Open the newest one, or check your spam folder; you can ask again within the hour.")
    # An earlier link (perhaps to a mistyped address) must not confirm anything once a new one is asked for.
    db.session.execute(update(EmailConfirmation).where(
        EmailConfirmation.user_id == user.id, EmailConfirmation.confirmed_at.is_(None),
        EmailConfirmation.expires_at > now).values(expires_at=now).execution_options(synchronize_session=False))
    token = secrets.token_urlsafe(32)
    confirmation = EmailConfirmation(user_id=user.id, email=email, token_hash=token_hash(token), created_at=now,
                                     expires_at=now + CONFIRMATION_LIFETIME)
    db.session.add(confirmation)
    outbox.enqueue("email_confirmation", email, {
        "email": email,
        "confirm_url": external_url("badge_panel.confirm_email", token=token),
        "earner_name": issuing.earner_name(user),
        "registration_id": user.registration_id,
    })
    db.session.flush()
    return confirmation


def confirmation_of(token: str, *, now: datetime | None = None) -> EmailConfirmation:
    """The confirmation a link names, still usable; otherwise the error that says what to do."""
    confirmation = None
    if token and len(token) <= 128:
        confirmation = db.session.scalar(db.select(EmailConfirmation).where(
            EmailConfirmation.token_hash == token_hash(token)))
    if confirmation is None:
        raise NotFound(
            "This confirmation link is not valid.",
            hint="Check that you opened the whole link from the newest email, or ask for a new one from the "
                 "badge page in your course.")
    # Expired first: past its 24 hours a link says only that, whether it was used or not.
    if confirmation.expires_at <= (now or utcnow()):
        raise ConfirmationExpired("This link expired: ask for a new one from the badge page in your course.",
                                  hint="Links work for 24 hours, and only the newest one you asked for.")
    if confirmation.confirmed_at is not None:
        raise ConfirmationUsed()
    return confirmation


@dataclass
class Confirmed:
    email: str
    issued: list[Badge] = field(default_factory=list)  # the badges that waited for it


def confirm(token: str, *, now: datetime | None = None) -> Confirmed:
    """Prove the address, once: keep it on the profile and issue every badge that waited for it."""
    now = now or utcnow()
    confirmation = confirmation_of(token, now=now)
    claimed = db.session.execute(update(EmailConfirmation).where(
        EmailConfirmation.id == confirmation.id, EmailConfirmation.confirmed_at.is_(None),
        EmailConfirmation.expires_at > now).values(confirmed_at=now).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # another request used it a moment ago
        raise ConfirmationUsed()
    confirmation.confirmed_at = now
    person = db.session.get(LtiUser, confirmation.user_id)
    profile = profile_for(person)
    profile.confirmed_email = confirmation.email
    profile.email_confirmed_at = now
    for badge in _waiting_badges(person.id):
        issuing.log(badge, person.id, "email confirmed")
    issued = issuing.issue_awaiting(person, confirmation.email, now=now)
    db.session.flush()
    return Confirmed(email=confirmation.email, issued=issued)


def mask_email(address: str | None) -> str:
    """'a…@s….example': enough for the person to recognise their address, not enough to read it over a shoulder."""
    if not address or "@" not in address:
        return "your address"
    local, domain = address.rsplit("@", 1)
    labels = domain.split(".")
    tail = "." + labels[-1] if len(labels) > 1 else ""
    return f"{local[:1]}…@{domain[:1]}…{tail}"
