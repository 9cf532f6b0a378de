"""Badges: one Open Badge per earned micro-credential, its audit trail, the earner's choices and email proof."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.core.models import TimestampMixin, UTCTimestamp, utcnow
from lti_tool.extensions import db

__all__ = ["Badge", "BadgeEvent", "BadgeRevokedStatus", "BadgeStatus", "DisplayName", "EarnerProfile",
           "EmailConfirmation"]


class BadgeStatus(StrEnum):
    AWAITING_EMAIL = "awaiting_email"  # earned and released; the LMS shared no email: the earner must confirm one
    ISSUED = "issued"
    REVOKED = "revoked"


class DisplayName(StrEnum):
    """What the public pages show of the earner's name (the credentials themselves carry only a hashed email)."""

    FULL = "full"
    INITIALS = "initials"  # "Ada L."
    HIDDEN = "hidden"


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Badge(TimestampMixin, db.Model):
    """The badge of one earned, released assessment: an OB 2.0 hosted assertion and an OB 3.0 credential.

    `uuid` is the public name in every URL. What was signed is kept as issued (`assertion`, `credential_jwt`):
    a later change of the catalog never alters an issued badge. Its images are baked from these when asked for
    (`artwork.baked_png`, `baked_svg`: a splice of two text chunks into the micro-credential's picture).
    `status_index` is the bit of its current OB 3.0 credential in the issuer's status list: its assessment's id
    when first issued, a new one each time it is reinstated (a revoked bit stays set: see `status_list`).
    """

    __tablename__ = "badge_badge"
    __table_args__ = (
        CheckConstraint(_in("status", BadgeStatus), name="status_known"),
        CheckConstraint(_in("display_name", DisplayName), name="display_name_known"),
        CheckConstraint("status <> 'issued' OR issued_at IS NOT NULL", name="issued_has_issued_at"),
        CheckConstraint("status <> 'revoked' OR revoked_at IS NOT NULL", name="revoked_has_revoked_at"),
        CheckConstraint("status = 'awaiting_email' OR status_index IS NOT NULL", name="issued_has_status_index"),
        Index("ix_badge_badge_user", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessment_assessment.id", ondelete="CASCADE"), unique=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("submission_enrollment.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    microcredential_id: Mapped[int] = mapped_column(ForeignKey("catalog_microcredential.id"), index=True)
    issuer_profile_id: Mapped[int] = mapped_column(ForeignKey("catalog_issuer_profile.id"))
    status: Mapped[str] = mapped_column(String(20), default=BadgeStatus.AWAITING_EMAIL.value)
    earned_at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow)  # the release of the decision
    issued_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())  # validFrom / issuedOn
    expires_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())  # validUntil / expires; None: never
    earner_name: Mapped[str | None] = mapped_column(String(500))  # as the LMS gave it when the badge was earned
    display_name: Mapped[str] = mapped_column(String(10), default=DisplayName.FULL.value)
    recipient_email: Mapped[str | None] = mapped_column(String(500))  # where mail goes; never in a credential
    recipient_salt: Mapped[str | None] = mapped_column(String(64))
    recipient_hash: Mapped[str | None] = mapped_column(String(80))  # "sha256$<hex>" of email + salt
    assertion: Mapped[dict | None] = mapped_column(JSON)  # the OB 2.0 assertion as issued
    credential_jwt: Mapped[str | None] = mapped_column(Text)  # the current OB 3.0 VC-JWT (re-signed when reinstated)
    status_index: Mapped[int | None] = mapped_column()  # its bit in the issuer's status list; None until issued
    revoked_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("lti_user.id", ondelete="SET NULL"))

    user = relationship("LtiUser", foreign_keys=[user_id])
    microcredential = relationship("MicroCredential")
    issuer_profile = relationship("IssuerProfile")
    enrollment = relationship("Enrollment")
    assessment = relationship("Assessment")

    @property
    def is_issued(self) -> bool:
        return self.status == BadgeStatus.ISSUED

    @property
    def is_revoked(self) -> bool:
        return self.status == BadgeStatus.REVOKED

    @property
    def is_awaiting_email(self) -> bool:
        return self.status == BadgeStatus.AWAITING_EMAIL

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or utcnow())

    def __repr__(self) -> str:
        return f"<Badge {self.uuid} {self.status}>"


class BadgeEvent(db.Model):
    """The badges' audit log: issued, revoked, un-revoked, emailed, email confirmed — who and when."""

    __tablename__ = "badge_event"
    __table_args__ = (Index("ix_badge_event_badge", "badge_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    badge_id: Mapped[int] = mapped_column(ForeignKey("badge_badge.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("lti_user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow, index=True)

    actor = relationship("LtiUser")
    badge = relationship("Badge")


class BadgeRevokedStatus(db.Model):
    """A set bit of an issuer's status list: one revoked OB 3.0 credential, revoked for good.

    The W3C Bitstring Status List says a `revocation` is not reversible (a verifier that saw it may keep it), so
    a row is never deleted when a badge is reinstated: the badge gets a new credential at a new index instead
    (`issuing.unrevoke`), and copies of the old one stay revoked. The issuer's lists are these rows' bits.
    """

    __tablename__ = "badge_revoked_status"
    __table_args__ = (UniqueConstraint("issuer_profile_id", "status_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer_profile_id: Mapped[int] = mapped_column(ForeignKey("catalog_issuer_profile.id"))
    status_index: Mapped[int] = mapped_column()
    badge_id: Mapped[int] = mapped_column(ForeignKey("badge_badge.id", ondelete="CASCADE"), index=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow)

    badge = relationship("Badge")


class EarnerProfile(TimestampMixin, db.Model):
    """An earner's choices: a confirmed email (when the LMS shares none) and a public "my badges" page."""

    __tablename__ = "badge_earner_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"), unique=True)
    public_slug: Mapped[str] = mapped_column(String(32), unique=True)  # random: /earners/<slug>
    is_public: Mapped[bool] = mapped_column(default=False)
    confirmed_email: Mapped[str | None] = mapped_column(String(500))
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())

    user = relationship("LtiUser")


class EmailConfirmation(db.Model):
    """A link sent to prove an address; only the token's SHA-256 is kept. Single use, expires."""

    __tablename__ = "badge_email_confirmation"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(500))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
