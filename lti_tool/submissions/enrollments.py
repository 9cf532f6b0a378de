"""Enrollments as the pages need them: which one the submission page shows, and the seats of a term.

Read-mostly helpers beside `services` (whose verbs change the work); the catalog's pages ask here for the
seats left, so that the catalog never reads the submissions' tables itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lti_tool.extensions import db
from lti_tool.submissions import services
from lti_tool.submissions.models import Enrollment, EnrollmentQuota
from lti_tool.submissions.services import EnrollmentClosed

if TYPE_CHECKING:
    from lti_tool.catalog.models import MicroCredential, Term
    from lti_tool.lti.models import LtiUser, ResourceLink


def seats_taken(mc: MicroCredential, term: Term) -> int:
    """Seats taken in this micro-credential for this term: the very count the earner limit is held by."""
    return db.session.scalar(
        db.select(EnrollmentQuota.enrolled_count).where(
            EnrollmentQuota.microcredential_id == mc.id, EnrollmentQuota.term_id == term.id
        )
    ) or 0


def seats_left(mc: MicroCredential, term: Term | None) -> int | None:
    """Seats still open in this term; None when there is no term or it has no earner limit."""
    if term is None or term.earner_limit is None:
        return None
    return max(term.earner_limit - seats_taken(mc, term), 0)


def latest_enrollment(user_id: int, microcredential_id: int) -> Enrollment | None:
    """The person's most recent enrollment in this micro-credential, whatever its term."""
    return db.session.scalar(
        db.select(Enrollment)
        .where(Enrollment.user_id == user_id, Enrollment.microcredential_id == microcredential_id)
        .order_by(Enrollment.id.desc())
        .limit(1)
    )


def enrollment_to_show(
    user: LtiUser, microcredential: MicroCredential, term: Term | None, resource_link: ResourceLink
) -> Enrollment:
    """The enrollment whose work the page shows: the current term's; else the person's latest (an unfinished
    draft of an earlier term must stay reachable); a new enrollment only for someone who has none at all.

    Starting again in a newer term is the person's choice (`services.enroll`), never a side effect of opening
    the page. Raises EnrollmentClosed (no term) or MicroCredentialFull. Flushes when it enrolls.
    """
    if term is not None:
        existing = services.find_enrollment(user.id, microcredential.id, term.id)
        if existing is not None:
            return existing
    earlier = latest_enrollment(user.id, microcredential.id)
    if earlier is not None:
        return earlier
    if term is None:
        raise EnrollmentClosed("No term is open for enrollment.", hint="Ask your instructor when the next one opens.")
    return services.enroll(user, microcredential, term, resource_link)
