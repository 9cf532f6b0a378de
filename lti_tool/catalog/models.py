"""Catalog models: micro-credentials with their rubric (levels × criteria), terms and the issuer profile."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.core.models import TimestampMixin, UTCTimestamp, utcnow
from lti_tool.extensions import db

__all__ = ["PARTS", "IssuerProfile", "MicroCredential", "RubricCriterion", "RubricLevel", "Term"]

PARTS = ("overview", "artifacts", "reflection")  # the three parts of a submission, always in this order


def _hours_label(hours: int | None) -> str:
    if hours is None:
        return ""
    return f"{hours} hour" if hours == 1 else f"{hours} hours"


class IssuerProfile(TimestampMixin, db.Model):
    """An organization that issues badges (the Open Badges issuer profile), managed by admins.

    A micro-credential's badges are issued by its `issuer_profile` (set when the catalog is loaded: the profile
    named like its `issuing_organization`, else the catalog's issuer).
    """

    __tablename__ = "catalog_issuer_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(String(1000))
    email: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(String(500))  # an http(s) address or a path on this site


class MicroCredential(TimestampMixin, db.Model):
    """A discrete, research-backed competency, earned with a three-part submission scored on a rubric."""

    __tablename__ = "catalog_microcredential"
    __table_args__ = (
        CheckConstraint("estimated_hours >= 0", name="estimated_hours_not_negative"),
        CheckConstraint("inservice_hours >= 0", name="inservice_hours_not_negative"),
        CheckConstraint("reopen_rule IN ('manual', 'untilpass')", name="reopen_rule_known"),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    issuing_organization: Mapped[str] = mapped_column(String(300))
    competency: Mapped[str] = mapped_column(Text)
    key_method: Mapped[str] = mapped_column(Text)
    estimated_hours: Mapped[int] = mapped_column(default=0)
    inservice_hours: Mapped[int] = mapped_column(default=0)
    description: Mapped[str | None] = mapped_column(Text)
    resources: Mapped[list] = mapped_column(JSON, default=list)  # [{title, url}]
    prompts: Mapped[dict] = mapped_column(JSON, default=dict)  # {overview: [...], artifacts: [...], reflection: [...]}
    badge_image: Mapped[str | None] = mapped_column(String(500))
    earning_rule: Mapped[str] = mapped_column(Text, default="")
    required_level_key: Mapped[str] = mapped_column(String(50))
    is_retired: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)
    # How it is assessed (the catalog's `assessment:` block).
    instructors_may_assess: Mapped[bool] = mapped_column(default=False, server_default="0")
    review_before_release: Mapped[bool] = mapped_column(default=False, server_default="0")
    double_blind: Mapped[bool] = mapped_column(default=False, server_default="0")
    reopen_rule: Mapped[str] = mapped_column(String(10), default="untilpass", server_default="untilpass")
    max_attempts: Mapped[int] = mapped_column(default=3, server_default="3")
    # Badges: who issues them and for how long they are valid (None: they do not expire).
    issuer_profile_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_issuer_profile.id"))
    badge_valid_months: Mapped[int | None] = mapped_column()

    issuer_profile: Mapped[IssuerProfile | None] = relationship()
    levels: Mapped[list[RubricLevel]] = relationship(
        back_populates="microcredential", order_by="RubricLevel.position", cascade="all, delete-orphan"
    )
    criteria: Mapped[list[RubricCriterion]] = relationship(
        back_populates="microcredential", order_by="RubricCriterion.position", cascade="all, delete-orphan"
    )

    @property
    def estimated_time_label(self) -> str:
        """`6 hours`."""
        return _hours_label(self.estimated_hours)

    @property
    def inservice_hours_label(self) -> str:
        return _hours_label(self.inservice_hours)

    @property
    def required_level(self) -> RubricLevel | None:
        return next((level for level in self.levels if level.key == self.required_level_key), None)

    @property
    def is_pickable(self) -> bool:
        """An instructor may place it in a course."""
        return not self.is_retired

    def prompts_for(self, part: str) -> list[str]:
        """The prompts of one part (`overview`, `artifacts`, `reflection`)."""
        return list((self.prompts or {}).get(part, []))

    def criteria_for(self, part: str) -> list[RubricCriterion]:
        return [criterion for criterion in self.criteria if criterion.part == part]

    def level_rank(self, level_key: str) -> int | None:
        """The position of a level in the rubric (0 = lowest), or None for an unknown level."""
        return next((index for index, level in enumerate(self.levels) if level.key == level_key), None)

    def meets_required_level(self, level_key: str) -> bool:
        """A score at or above the required level (DESIGN: earned when every criterion meets it)."""
        rank, required = self.level_rank(level_key), self.level_rank(self.required_level_key)
        return rank is not None and required is not None and rank >= required

    def __repr__(self) -> str:
        return f"<MicroCredential {self.slug}>"


class RubricLevel(db.Model):
    """A proficiency level of a rubric, lowest first (Not yet, Developing, Demonstrated)."""

    __tablename__ = "catalog_rubric_level"
    __table_args__ = (UniqueConstraint("microcredential_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    microcredential_id: Mapped[int] = mapped_column(ForeignKey("catalog_microcredential.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(50))
    label: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)

    microcredential: Mapped[MicroCredential] = relationship(back_populates="levels")

    @property
    def is_required(self) -> bool:
        return self.key == self.microcredential.required_level_key


class RubricCriterion(db.Model):
    """A criterion of a rubric, judged on one part of the submission, with a descriptor per level."""

    __tablename__ = "catalog_rubric_criterion"
    __table_args__ = (
        UniqueConstraint("microcredential_id", "key"),
        CheckConstraint("part IN ('overview', 'artifacts', 'reflection')", name="part_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    microcredential_id: Mapped[int] = mapped_column(ForeignKey("catalog_microcredential.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(300))
    part: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(default=0)
    descriptors: Mapped[dict] = mapped_column(JSON, default=dict)  # {level key: text}

    microcredential: Mapped[MicroCredential] = relationship(back_populates="criteria")

    def descriptor_for(self, level_key: str) -> str:
        return (self.descriptors or {}).get(level_key, "")


class Term(TimestampMixin, db.Model):
    """An enrollment window and deadlines; after the final deadline nothing can be submitted."""

    __tablename__ = "catalog_term"
    __table_args__ = (
        CheckConstraint("enrollment_opens_at < enrollment_closes_at", name="enrollment_in_order"),
        CheckConstraint("enrollment_closes_at <= final_deadline_at", name="deadline_after_enrollment"),
        CheckConstraint("earner_limit IS NULL OR earner_limit > 0", name="earner_limit_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    enrollment_opens_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    enrollment_closes_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    recommended_submission_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    final_deadline_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    earner_limit: Mapped[int | None] = mapped_column()  # earners per micro-credential; None: no limit
    position: Mapped[int] = mapped_column(default=0)

    def is_enrollment_open(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        return self.enrollment_opens_at <= now < self.enrollment_closes_at

    def is_past_deadline(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) > self.final_deadline_at

    def __repr__(self) -> str:
        return f"<Term {self.key}>"
