"""The LTI model, mirroring the spec: registration, deployment, context, resource link, line item, user, membership."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from lti_tool.core.models import TimestampMixin, UTCTimestamp, utcnow
from lti_tool.extensions import db


def origin_of(url: str | None) -> str | None:
    """scheme://host[:port] of a URL, or None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def platform_origins(issuer: str, auth_login_url: str, auth_token_url: str | None) -> set[str]:
    """The web origins a registration names: where its pages frame the tool and where its return URLs may lead.

    The token endpoint counts too: on Canvas it is the institution's own host (school.instructure.com), which is
    the page that frames the tool, while the issuer and the login endpoint are Instructure's shared hosts.
    """
    return {o for o in (origin_of(issuer), origin_of(auth_login_url), origin_of(auth_token_url)) if o}


class Registration(TimestampMixin, db.Model):
    """A platform's registration of this tool: one issuer may register it under many client ids."""

    __tablename__ = "lti_registration"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str] = mapped_column(String(500), index=True)
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(1000))
    auth_token_url: Mapped[str] = mapped_column(String(1000))
    auth_audience: Mapped[str | None] = mapped_column(String(1000))  # Canvas, Brightspace: token aud != token URL
    key_set_url: Mapped[str | None] = mapped_column(String(1000))
    key_set: Mapped[dict | None] = mapped_column(JSON)  # a platform that gives its keys instead of a URL
    product_family_code: Mapped[str | None] = mapped_column(String(100))
    is_default_for_issuer: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    # The catalog is shared by every platform: only the admins of a registration trusted with it may change it.
    manages_catalog: Mapped[bool] = mapped_column(default=False)
    # Learned from the platform: it refused a progress-only score (no scoreGiven), so none is sent there any more
    # (final scores still go). The platform's answer is kept to show on the admin page.
    progress_scores_refused_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    progress_scores_refusal: Mapped[str | None] = mapped_column(Text)

    deployments: Mapped[list[Deployment]] = relationship(back_populates="registration", cascade="all, delete-orphan")

    @property
    def frame_origins(self) -> set[str]:
        """Origins allowed to frame the tool's pages for this platform (CSP frame-ancestors)."""
        return platform_origins(self.issuer, self.auth_login_url, self.auth_token_url)

    def __repr__(self) -> str:
        return f"<Registration {self.issuer} {self.client_id}>"


class Deployment(TimestampMixin, db.Model):
    """One placement of the registration in the platform (LTI 1.3 Core §3.1.3)."""

    __tablename__ = "lti_deployment"
    __table_args__ = (UniqueConstraint("registration_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("lti_registration.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=True)

    registration: Mapped[Registration] = relationship(back_populates="deployments")


class Context(TimestampMixin, db.Model):
    """A course (LTI context) seen through one deployment."""

    __tablename__ = "lti_context"
    __table_args__ = (UniqueConstraint("deployment_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("lti_deployment.id", ondelete="CASCADE"))
    context_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(500))
    label: Mapped[str | None] = mapped_column(String(255))
    memberships_url: Mapped[str | None] = mapped_column(String(1000))  # NRPS context_memberships_url
    lineitems_url: Mapped[str | None] = mapped_column(String(1000))  # AGS lineitems
    ags_scopes: Mapped[list | None] = mapped_column(JSON)
    roster_synced_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())  # the NRPS roster's last full read

    deployment: Mapped[Deployment] = relationship()


class ResourceLink(TimestampMixin, db.Model):
    """An activity in a course; bound to a micro-credential by the custom parameter `microcredential`."""

    __tablename__ = "lti_resource_link"
    __table_args__ = (UniqueConstraint("context_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_context.id", ondelete="CASCADE"))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(500))
    microcredential_slug: Mapped[str | None] = mapped_column(String(120), index=True)

    context: Mapped[Context] = relationship()
    line_item: Mapped[LineItem | None] = relationship(back_populates="resource_link", uselist=False)

    @property
    def is_bound(self) -> bool:
        return bool(self.microcredential_slug)


class ResourceLinkLaunch(db.Model):
    """A person launched from this resource link (first and last time): where their scores belong.

    One enrollment may be reached from several resource links of one course (the same micro-credential placed
    twice); its scores go to the line item of every one of them the person launched from.
    """

    __tablename__ = "lti_resource_link_launch"
    __table_args__ = (UniqueConstraint("resource_link_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_link_id: Mapped[int] = mapped_column(ForeignKey("lti_resource_link.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"), index=True)
    first_launch_at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow)
    last_launch_at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow)

    resource_link: Mapped[ResourceLink] = relationship()


class LineItem(TimestampMixin, db.Model):
    """The gradebook column of a resource link (AGS 2.0 §3.2).

    label = the micro-credential title, resourceId = its slug, tag = `microcredential`.
    """

    __tablename__ = "lti_line_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_link_id: Mapped[int] = mapped_column(ForeignKey("lti_resource_link.id", ondelete="CASCADE"), unique=True)
    url: Mapped[str] = mapped_column(String(1000))
    label: Mapped[str] = mapped_column(String(500))
    score_maximum: Mapped[float] = mapped_column(default=1.0)
    resource_id: Mapped[str | None] = mapped_column(String(255))
    tag: Mapped[str | None] = mapped_column(String(255))

    resource_link: Mapped[ResourceLink] = relationship(back_populates="line_item")


class LtiUser(TimestampMixin, db.Model):
    """A person as one platform knows them: `sub` is stable for the whole issuer (LTI 1.3 Core §5.3.6), so the same
    person reaching the tool through two registrations of one issuer (two tool types, two client ids) is one user."""

    __tablename__ = "lti_user"
    __table_args__ = (UniqueConstraint("issuer", "sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    # The registration through which the person was first seen: their platform for organization-wide things
    # (assessor grants, the badge and mail pages of that platform's admins).
    registration_id: Mapped[int] = mapped_column(ForeignKey("lti_registration.id", ondelete="CASCADE"), index=True)
    sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(500))
    given_name: Mapped[str | None] = mapped_column(String(255))
    family_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(500))
    last_launch_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())  # "active" assessors launched lately

    registration: Mapped[Registration] = relationship()

    @validates("registration")
    def _issuer_of(self, _key, registration: Registration) -> Registration:
        """A person is first seen through a registration: they belong to its issuer."""
        if registration is not None and self.issuer is None:
            self.issuer = registration.issuer
        return registration

    @property
    def display_name(self) -> str:
        full = " ".join(p for p in (self.given_name, self.family_name) if p)
        return self.name or full or "Unnamed user"


class Membership(TimestampMixin, db.Model):
    """A user's roles in a context, as of their last launch or roster sync."""

    __tablename__ = "lti_membership"
    __table_args__ = (UniqueConstraint("context_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_context.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    roles: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="Active")

    context: Mapped[Context] = relationship()
    user: Mapped[LtiUser] = relationship()


class RegistrationInvite(db.Model):
    """A single-use, expiring Dynamic Registration URL created by an admin (production)."""

    __tablename__ = "lti_registration_invite"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    used_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("lti_registration.id", ondelete="SET NULL"))
