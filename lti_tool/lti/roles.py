"""LTI roles (LTI 1.3 Core §A.2) to the tool's duties: educator, instructor, assessor, admin."""

from __future__ import annotations

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"

EDUCATOR = "educator"
INSTRUCTOR = "instructor"
ASSESSOR = "assessor"
ADMIN = "admin"

# Landing order when one person holds several duties in a course.
DUTY_ORDER = (INSTRUCTOR, ASSESSOR, EDUCATOR, ADMIN)

DUTY_LABELS = {EDUCATOR: "Educator", INSTRUCTOR: "Instructor", ASSESSOR: "Assessor", ADMIN: "Administrator"}

_CONTEXT_ROLE_DUTIES = {
    "membership#Learner": EDUCATOR,
    "membership#Instructor": INSTRUCTOR,
    "membership#ContentDeveloper": INSTRUCTOR,
    "membership#Mentor": ASSESSOR,
    "membership/Instructor#TeachingAssistant": ASSESSOR,
    "membership/Instructor#Grader": ASSESSOR,
}
_ADMIN_ROLES = {
    "institution/person#Administrator",
    "system/person#Administrator",
    "system/person#SysAdmin",
}
# Sub-roles of Instructor that grant assessment only: a platform also sends the principal role
# (LTI 1.3 Core §A.2.3.1), which must not lift a teaching assistant to instructor.
_INSTRUCTOR_SUB_ROLES = {"membership/Instructor#TeachingAssistant", "membership/Instructor#Grader"}
# Simple names are deprecated but still sent by some platforms (LTI 1.3 Core §A.2.3.1).
_SHORT_NAMES = {
    "Learner": "membership#Learner",
    "Instructor": "membership#Instructor",
    "ContentDeveloper": "membership#ContentDeveloper",
    "Mentor": "membership#Mentor",
    "TeachingAssistant": "membership/Instructor#TeachingAssistant",
}


def _vocabulary_name(role: str) -> str | None:
    if role.startswith(LIS):
        return role[len(LIS) :]
    return _SHORT_NAMES.get(role)


def duties_for_roles(roles: list[str] | None) -> list[str]:
    """The duties a set of LTI roles grants, in landing order; unknown roles grant nothing."""
    names = {name for name in (_vocabulary_name(r) for r in roles or []) if name}
    duties = {duty for name, duty in _CONTEXT_ROLE_DUTIES.items() if name in names}
    if names & _INSTRUCTOR_SUB_ROLES and not names & {"membership#ContentDeveloper"}:
        duties.discard(INSTRUCTOR)
    if names & _ADMIN_ROLES:
        duties.add(ADMIN)
    return [duty for duty in DUTY_ORDER if duty in duties]
