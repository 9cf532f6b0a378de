"""Enrollments, attempts and artifacts: the educator's three-part evidence (Moodle's submission states)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.core.models import TimestampMixin, UTCTimestamp, utcnow
from lti_tool.extensions import db


class SubmissionStatus(StrEnum):
    """Moodle's submission states (mod_assign): only services change them."""

    NEW = "new"
    DRAFT = "draft"
    SUBMITTED = "submitted"
    REOPENED = "reopened"


class MarkingStatus(StrEnum):
    """Moodle's marking workflow; grades and badges leave the tool only at `released`."""

    NOT_MARKED = "notmarked"
    IN_MARKING = "inmarking"
    READY_FOR_REVIEW = "readyforreview"
    IN_REVIEW = "inreview"
    READY_FOR_RELEASE = "readyforrelease"
    RELEASED = "released"


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class EnrollmentQuota(db.Model):
    """Seats taken per micro-credential and term: one conditional UPDATE holds the limit under concurrency."""

    __tablename__ = "submission_enrollment_quota"
    __table_args__ = (
        UniqueConstraint("microcredential_id", "term_id"),
        CheckConstraint("enrolled_count >= 0", name="enrolled_count_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    microcredential_id: Mapped[int] = mapped_column(ForeignKey("catalog_microcredential.id", ondelete="CASCADE"))
    term_id: Mapped[int] = mapped_column(ForeignKey("catalog_term.id", ondelete="CASCADE"))
    enrolled_count: Mapped[int] = mapped_column(default=0)


class Enrollment(TimestampMixin, db.Model):
    """An educator working towards one micro-credential in one term, from one activity of a course."""

    __tablename__ = "submission_enrollment"
    __table_args__ = (UniqueConstraint("user_id", "microcredential_id", "term_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"), index=True)
    microcredential_id: Mapped[int] = mapped_column(ForeignKey("catalog_microcredential.id"), index=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("catalog_term.id"))
    resource_link_id: Mapped[int] = mapped_column(ForeignKey("lti_resource_link.id", ondelete="CASCADE"), index=True)
    last_viewed_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())  # what changed since: shown on launch

    user = relationship("LtiUser")
    microcredential = relationship("MicroCredential")
    term = relationship("Term")
    resource_link = relationship("ResourceLink")
    attempts: Mapped[list[Attempt]] = relationship(
        back_populates="enrollment", order_by="Attempt.number", cascade="all, delete-orphan"
    )

    @property
    def latest_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None


class Attempt(TimestampMixin, db.Model):
    """Attempt 1, 2, …: a draft until submitted; a submitted attempt never changes again.

    `version` grows with every saved change, so a stale save (another tab, an expired page) is refused
    instead of overwriting newer text.
    """

    __tablename__ = "submission_attempt"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "number"),
        CheckConstraint(_in("status", SubmissionStatus), name="status_is_known"),
        CheckConstraint(_in("marking_status", MarkingStatus), name="marking_status_is_known"),
        CheckConstraint("status != 'submitted' OR submitted_at IS NOT NULL", name="submitted_has_time"),
        CheckConstraint("number >= 1", name="number_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("submission_enrollment.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(20), default=SubmissionStatus.NEW.value)
    marking_status: Mapped[str] = mapped_column(String(20), default=MarkingStatus.NOT_MARKED.value)
    overview: Mapped[str] = mapped_column(Text, default="")
    reflection: Mapped[str] = mapped_column(Text, default="")
    collaborated: Mapped[bool | None] = mapped_column()
    collaborators: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(default=0)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    content_changed_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())

    enrollment: Mapped[Enrollment] = relationship(back_populates="attempts")
    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="attempt", order_by="Artifact.position, Artifact.id", cascade="all, delete-orphan"
    )

    @property
    def is_locked(self) -> bool:
        return self.status == SubmissionStatus.SUBMITTED

    @property
    def is_editable(self) -> bool:
        return not self.is_locked

    def missing_parts(self) -> list[str]:
        """The parts still empty; each must have content before the attempt can be submitted."""
        missing = []
        if not (self.overview or "").strip():
            missing.append("overview")
        if not self.artifacts:
            missing.append("artifacts")
        if not (self.reflection or "").strip():
            missing.append("reflection")
        if self.collaborated is None:
            missing.append("collaboration")
        elif self.collaborated and not (self.collaborators or "").strip():
            missing.append("collaborators")
        return missing

    @property
    def last_modified_at(self) -> datetime | None:
        return self.content_changed_at


class ArtifactKind(StrEnum):
    FILE = "file"
    LINK = "link"


class Artifact(db.Model):
    """A work example: a stored file (random name, SHA-256) or an http(s) link, with an optional caption."""

    __tablename__ = "submission_artifact"
    __table_args__ = (
        CheckConstraint(_in("kind", ArtifactKind), name="kind_is_known"),
        CheckConstraint(
            "(kind = 'file' AND storage_key IS NOT NULL AND url IS NULL) OR (kind = 'link' AND url IS NOT NULL)",
            name="file_or_link",
        ),
        Index("ix_submission_artifact_attempt", "attempt_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("submission_attempt.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(300), default="")  # the caption, optional
    url: Mapped[str | None] = mapped_column(String(2000))
    file_name: Mapped[str | None] = mapped_column(String(255))  # the educator's name for it, made safe
    storage_key: Mapped[str | None] = mapped_column(String(200))
    # Which storage backend keeps the file ("local", "s3"): new files go to STORAGE_BACKEND; `flask storage migrate`
    # moves old ones and switches this, row by row, so reads work throughout a move.
    storage_backend: Mapped[str] = mapped_column(String(16), default="local", server_default="local")
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column()
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCTimestamp(), default=utcnow)

    attempt: Mapped[Attempt] = relationship(back_populates="artifacts")

    @property
    def is_file(self) -> bool:
        return self.kind == ArtifactKind.FILE

    @property
    def is_playable(self) -> bool:
        return bool(self.content_type) and self.content_type.split("/")[0] in ("video", "audio")

    @property
    def label(self) -> str:
        return self.title or self.file_name or self.url or ""
