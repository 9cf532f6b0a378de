"""The work a launch may act on: the enrollment its resource link leads to, and nothing else of the person's.

A launch names a resource link, bound to a micro-credential; the submission page shows the person's enrollment in
it (the current term's, else their latest — `enrollments.enrollment_to_show`). Every request carrying that launch
(save, autosave, upload, replace, remove, links, submit, resubmit) acts only on that enrollment's attempts: the
same person's attempt of another micro-credential, or of another term than the one shown, is "not found" even when
its id is put in a form. Two activities of the same micro-credential (one course or two) lead to the same
enrollment, and so share its attempt, as intended. (The file links its pages give may read the person's own work
in that micro-credential, any term: `file_links.reader_grant`.)
"""

from __future__ import annotations

from lti_tool.catalog.binding import microcredential_of
from lti_tool.catalog.services import current_term
from lti_tool.submissions import services
from lti_tool.submissions.enrollments import latest_enrollment
from lti_tool.submissions.models import Artifact, Attempt, Enrollment


def launch_enrollment(launch) -> Enrollment | None:
    """The enrollment the launch's page shows (never enrolls): None when the activity is unbound or the person has
    none in its micro-credential yet."""
    microcredential = microcredential_of(launch.resource_link)
    if microcredential is None:
        return None
    term = current_term()
    if term is not None:
        enrollment = services.find_enrollment(launch.user_id, microcredential.id, term.id)
        if enrollment is not None:
            return enrollment
    return latest_enrollment(launch.user_id, microcredential.id)


def launch_attempt(launch, attempt_id: int) -> Attempt:
    """The attempt `attempt_id` when it is one of the launch's enrollment; NotFound otherwise."""
    return services.get_attempt_of_enrollment(launch_enrollment(launch), attempt_id)


def launch_artifact(launch, artifact_id: int) -> Artifact:
    """The artifact `artifact_id` when it belongs to an attempt of the launch's enrollment; NotFound otherwise."""
    return services.get_artifact_of_enrollment(launch_enrollment(launch), artifact_id)

