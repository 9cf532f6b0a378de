"""Issuing and revoking badges: what happens when an *Earned* decision is released, and an admin's revocation.

`earn` runs inside the release's transaction (a receiver of `assessment_released`): the badge row, its signed
credential, its baked images and the email to the earner are written together with the release, or not at
all. Nothing leaves the tool here: the email goes through the mail outbox.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update

from lti_tool.assessment.models import Assessment, Decision
from lti_tool.badges import achievements, ob2, ob3, status_list, urls
from lti_tool.badges.identity import new_recipient, normalise_email
from lti_tool.badges.models import Badge, BadgeEvent, BadgeRevokedStatus, BadgeStatus, EarnerProfile
from lti_tool.core import addresses
from lti_tool.core.dates import add_months
from lti_tool.core.errors import Conflict
from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from lti_tool.mail import outbox


def log(badge: Badge, actor_id: int | None, action: str, **details) -> None:
    db.session.add(BadgeEvent(badge=badge, actor_id=actor_id, action=action, details=details, at=utcnow()))


def earner_name(user) -> str | None:
    name = (user.name or " ".join(part for part in (user.given_name, user.family_name) if part)).strip()
    return name or None


def email_for(user) -> str | None:
    """Where the badge goes: the email the LMS shares, when it is one address we can write to; else one the
    earner confirmed. (An odd value from the LMS — two addresses, a display name — leaves the badge waiting for a
    confirmed address: it never stops the release.)"""
    shared = (user.email or "").strip()
    if shared and len(shared) <= addresses.MAX_EMAIL_LENGTH and addresses.is_email(shared):
        return normalise_email(shared)
    profile = db.session.scalar(db.select(EarnerProfile).where(EarnerProfile.user_id == user.id))
    if profile is not None and profile.confirmed_email and profile.email_confirmed_at is not None:
        return profile.confirmed_email
    return None


def on_assessment_released(assessment: Assessment, **_) -> None:
    """Receiver of `assessment.services.assessment_released`: an *Earned* release earns a badge."""
    if assessment.decision == Decision.EARNED.value:
        earn(assessment, actor_id=assessment.released_by_id, now=assessment.released_at)


def badge_of(assessment: Assessment) -> Badge | None:
    return db.session.scalar(db.select(Badge).where(Badge.assessment_id == assessment.id))


def earn(assessment: Assessment, *, actor_id: int | None = None, now: datetime | None = None) -> Badge:
    """The badge of a released *Earned* assessment: issued now, or waiting for the earner's email.

    Called once per release (the release itself is a conditional UPDATE); a second badge for one assessment
    is refused by the table's unique constraint.
    """
    now = now or utcnow()
    enrollment = assessment.attempt.enrollment
    microcredential = assessment.microcredential
    profile = achievements.issuer_of(microcredential)
    # No flush: its bit in the status list is its assessment's id, so a bulk release writes every badge at once.
    badge = Badge(
        uuid=str(uuid.uuid4()), assessment=assessment, assessment_id=assessment.id, enrollment=enrollment,
        user=enrollment.user, microcredential=microcredential, issuer_profile=profile,
        issuer_profile_id=profile.id, earned_at=now, earner_name=earner_name(enrollment.user),
        status=BadgeStatus.AWAITING_EMAIL.value,
    )
    db.session.add(badge)
    email = email_for(enrollment.user)
    if email is None:
        log(badge, actor_id, "awaiting email")
    else:
        issue(badge, email, actor_id=actor_id, now=now)
    return badge


def issue(badge: Badge, email: str, *, actor_id: int | None = None, now: datetime | None = None) -> Badge:
    """Hash the recipient, write the OB 2.0 assertion, sign the OB 3.0 credential, and write the email that
    tells the earner. (Its images are baked from these when asked for: see `artwork`.)"""
    if badge.id is not None:  # a badge that waited: two confirmations at once must not both issue it
        _hold(badge)
    if not badge.is_awaiting_email:
        raise Conflict("This badge was issued already.")
    now = (now or utcnow()).replace(microsecond=0)
    microcredential = badge.microcredential
    badge.recipient_email = normalise_email(email)
    badge.recipient_salt, badge.recipient_hash = new_recipient(email)
    badge.issued_at = now
    if microcredential.badge_valid_months:
        badge.expires_at = add_months(now, microcredential.badge_valid_months)
    badge.status = BadgeStatus.ISSUED.value
    badge.status_index = status_list.first_index(badge)
    badge.assertion = ob2.assertion(badge, image_url=urls.baked_image(badge.uuid, "png"))
    badge.credential_jwt = ob3.sign_credential(ob3.credential(badge), badge)
    log(badge, actor_id, "issued", recipient_hash=badge.recipient_hash)
    outbox.enqueue("badge_issued", badge.recipient_email, mail_payload(badge))
    return badge


def mail_payload(badge: Badge, state: str = "issued") -> dict:
    """What the mail renderers need, taken now (the worker sends later, and has no request): absolute URLs, and
    the badge as it is at this moment (`state`: issued, revoked or reinstated), so that each email tells what
    happened when it was written."""
    return {
        "badge_uuid": badge.uuid,
        "registration_id": badge.user.registration_id,
        "verify_url": urls.verification(badge.uuid),
        "title": " ".join(badge.microcredential.title.split()),
        "issuer_name": badge.issuer_profile.name,
        "state": state,
        "reason": badge.revocation_reason,
        "revoked_on": badge.revoked_at.date().isoformat() if badge.revoked_at else None,
    }


def issue_awaiting(user, email: str, *, now: datetime | None = None) -> list[Badge]:
    """Issue every badge of this earner that waited for an email (called once they confirmed one)."""
    waiting = db.session.scalars(db.select(Badge).where(
        Badge.user_id == user.id, Badge.status == BadgeStatus.AWAITING_EMAIL.value).order_by(Badge.id)).all()
    for badge in waiting:
        issue(badge, email, actor_id=user.id, now=now)
    return waiting


# -- revocation -----------------------------------------------------------------------------------------------
class RevocationRefused(Conflict):
    pass


def _hold(badge: Badge) -> None:
    """Take the badge's row before deciding on its state, then read it again as it is now.

    Two admins revoking at once must not both pass the "is it issued?" check: a conditional UPDATE takes the
    write lock (SQLite) or the row lock (PostgreSQL) and waits for the other transaction to end, so the check
    then sees the other one's result and refuses with a 409. It changes only `updated_at`.
    """
    db.session.execute(update(Badge).where(Badge.id == badge.id, Badge.status == badge.status)
                       .values(updated_at=utcnow()), execution_options={"synchronize_session": False})
    db.session.expire(badge)


def revoke(badge: Badge, actor_id: int | None, reason: str, *, now: datetime | None = None) -> None:
    """Every verifier sees it: the OB 2.0 assertion answers 410, the status list bit of the badge's current
    credential is set (for good: see `unrevoke`), the page says so."""
    reason = (reason or "").strip()
    if not reason:
        raise RevocationRefused("Say why the badge is revoked: the earner and every verifier read the reason.")
    _hold(badge)
    if not badge.is_issued:
        raise RevocationRefused("Only an issued badge can be revoked.")
    badge.status = BadgeStatus.REVOKED.value
    badge.revoked_at = now or utcnow()
    badge.revocation_reason = reason[:2000]
    badge.revoked_by_id = actor_id
    db.session.add(BadgeRevokedStatus(issuer_profile_id=badge.issuer_profile_id, status_index=badge.status_index,
                                      badge=badge, revoked_at=badge.revoked_at))
    log(badge, actor_id, "revoked", reason=badge.revocation_reason, status_index=badge.status_index)
    outbox.enqueue("badge_revoked", badge.recipient_email, mail_payload(badge, "revoked"))


def unrevoke(badge: Badge, actor_id: int | None, note: str = "", *, now: datetime | None = None) -> None:
    """Reinstate a revoked badge (the revocation stays in the audit log with its reason).

    The revoked credential stays revoked: a `revocation` status is not reversible (W3C Bitstring Status List),
    so its bit is never cleared. The badge gets a new OB 3.0 credential instead — the same `id`, a new status
    index whose bit is clear, `validFrom` now (the newest version of that `id`), `awardedDate` the first issue,
    signed with the current key — and the earner is asked to download it again. The OB 2.0 assertion simply
    answers 200 again (OB 2.0 has no such rule).
    """
    _hold(badge)
    if not badge.is_revoked:
        raise RevocationRefused("This badge is not revoked.")
    now = (now or utcnow()).replace(microsecond=0)
    revocation = db.session.execute(db.select(BadgeRevokedStatus).where(
        BadgeRevokedStatus.issuer_profile_id == badge.issuer_profile_id,
        BadgeRevokedStatus.status_index == badge.status_index)).scalar_one()
    previous = badge.revocation_reason
    badge.status = BadgeStatus.ISSUED.value
    badge.revoked_at = badge.revocation_reason = badge.revoked_by_id = None
    badge.status_index = status_list.reissue_index(revocation)
    badge.credential_jwt = ob3.sign_credential(ob3.credential(badge, valid_from=now), badge, valid_from=now)
    log(badge, actor_id, "un-revoked", previous_reason=previous, note=(note or "").strip()[:2000],
        status_index=badge.status_index)
    outbox.enqueue("badge_reinstated", badge.recipient_email, mail_payload(badge, "reinstated"))
