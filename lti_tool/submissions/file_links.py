"""Short-lived, read-only links to one artifact file, for one reader: `/files/<artifact id>?t=<token>`.

A page that shows files (the educator's own page, an instructor's review, an assessor's scoring page) decides
under its launch whether the reader may read each file, and gives each file its own link. The token in it
- is signed with its own salt: it opens this one file and nothing else, and a launch reference is no token here;
- names the artifact, the reader and the *grant* — why the reader may read it: `own` work, an instructor's
  `course`, an `assessment` — which is checked again against the database when the link is opened;
- lives `LTI_DOWNLOAD_URL_MAX_AGE` seconds (5 minutes): a copied file link neither reaches the rest of the work
  nor lives long; the page that issued it gives a fresh one each time it is shown;
- when the launch is bound to its browser (`lti.browser_binding`), names that browser too: there it keeps working
  for the rest of the session (a video paused for an hour still plays), anywhere else it dies after 5 minutes.
Its payload is readable by whoever holds the link, so it carries ids and flags only, never a name (blind review).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from lti_tool.catalog.models import MicroCredential
from lti_tool.core.errors import Gone, NotFound
from lti_tool.extensions import db
from lti_tool.lti import roles
from lti_tool.lti.browser_binding import is_this_browser
from lti_tool.lti.models import Deployment
from lti_tool.submissions.models import Artifact

SALT = "artifact-file-link"
# Shown inline when a page asks for it (a PDF in an iframe, an image, a player); anything else is an attachment.
INLINE_TYPES = ("application/pdf", "image/", "video/", "audio/")

# A grant's check: given the artifact, the reader's user id and the grant's argument, the file name to give the
# browser (None: the educator's own) — or NotFound when the reader may not (any more) read it.
GrantCheck = Callable[[Artifact, int, object], str | None]
_grant_checks: dict[str, GrantCheck] = {}


@dataclass(frozen=True)
class FileLink:
    """What a valid link grants: this artifact, read by this reader, as an attachment or inline, under this name."""

    artifact: Artifact
    deployment: Deployment
    inline: bool
    file_name: str | None


def register_grant(kind: str, check: GrantCheck) -> None:
    """A package that shows files under its own rules (the assessment's blind review) says how to check them."""
    _grant_checks[kind] = check


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def file_url(launch, artifact: Artifact, grant: str, argument: object = None, *, inline: bool = False) -> str:
    """The link to one file for the person of `launch`, whose right to read it the caller has just checked."""
    payload = {"a": artifact.id, "u": launch.user_id, "d": launch.deployment_id, "g": grant, "r": argument,
               "i": 1 if inline else 0}
    if launch.browser:
        payload["b"], payload["s"] = launch.browser, launch.session_started_at
    return url_for("files.read", artifact_id=artifact.id, t=_serializer().dumps(payload))


def read_file_link(artifact_id: int, token: str) -> FileLink:
    """The file a link opens: Gone when it has expired, NotFound when it is forged, for another file or no longer
    granted (whether the file exists is not revealed)."""
    config = current_app.config
    try:
        data, signed_at = _serializer().loads(token, max_age=max(config["LTI_SESSION_MAX_AGE"],
                                                                 config["LTI_DOWNLOAD_URL_MAX_AGE"]),
                                              return_timestamp=True)
    except SignatureExpired:
        raise _expired() from None
    except BadSignature:
        raise _not_found() from None
    age = (datetime.now(UTC) - signed_at).total_seconds()
    if age > config["LTI_DOWNLOAD_URL_MAX_AGE"] and not _in_its_browser(data):
        raise _expired()
    if not isinstance(data, dict) or data.get("a") != artifact_id or data.get("g") not in _grant_checks:
        raise _not_found()
    artifact = db.session.get(Artifact, artifact_id)
    deployment = db.session.get(Deployment, data.get("d"))
    if artifact is None or not artifact.is_file or deployment is None or not deployment.is_active \
            or not deployment.registration.is_active:
        raise _not_found()
    file_name = _grant_checks[data["g"]](artifact, data["u"], data.get("r"))
    inline = bool(data.get("i")) and (artifact.content_type or "").startswith(INLINE_TYPES)
    return FileLink(artifact=artifact, deployment=deployment, inline=inline, file_name=file_name)


def _in_its_browser(data) -> bool:
    """Is this link opened by the browser whose bound launch issued it (the cookie a copied link cannot carry),
    within that launch's session?"""
    bound = data.get("b") if isinstance(data, dict) else None
    started = data.get("s") if isinstance(data, dict) else None
    return isinstance(bound, str) and isinstance(started, int) \
        and time.time() - started <= current_app.config["LTI_SESSION_MAX_AGE"] and is_this_browser(bound)


def _expired() -> Gone:
    return Gone("This download link has expired; open it again from the page it came from.",
                hint="File links work for a few minutes only, so that a copied link is soon of no use.")


def _not_found() -> NotFound:
    return NotFound("That file was not found.", hint="Open it again from the page it came from.")


# -- the submissions' own grants: the educator's own work, an instructor's course --------------------------
def reader_grant(launch, artifact: Artifact) -> tuple[str, object] | None:
    """Why the person of `launch` may read this file: their own work in the micro-credential of the launch's
    activity (never their work of another activity), or an instructor of the course it was submitted in (assessors
    read through the assessment's grant, blind); None: they may not."""
    enrollment = artifact.attempt.enrollment
    if enrollment.user_id == launch.user_id and launch.resource_link is not None:
        # by the identity map: a page of many files reads its micro-credential once
        microcredential = db.session.get(MicroCredential, enrollment.microcredential_id)
        if microcredential.slug == launch.resource_link.microcredential_slug:
            return "own", None
    if launch.has_duty(roles.INSTRUCTOR) and launch.context_id is not None \
            and enrollment.resource_link.context_id == launch.context_id:
        return "course", launch.context_id
    return None


def reader_file_url(launch, artifact: Artifact, *, inline: bool = False) -> str | None:
    """The link for the person of `launch` to a file they may read (None for a link artifact or another's file)."""
    grant = reader_grant(launch, artifact) if artifact.is_file else None
    return file_url(launch, artifact, *grant, inline=inline) if grant else None


def _check_own(artifact: Artifact, reader_id: int, _argument) -> None:
    if artifact.attempt.enrollment.user_id != reader_id:
        raise _not_found()


def _check_course(artifact: Artifact, _reader_id: int, context_id) -> None:
    # The instructor's duty in that course came from the launch that issued the link; the file must still be
    # work submitted in that course.
    if context_id is None or artifact.attempt.enrollment.resource_link.context_id != context_id:
        raise _not_found()


register_grant("own", _check_own)
register_grant("course", _check_course)
