"""The launch reference (`ltik`) that carries a launch from page to page, and the session it belongs to.

Inside an LMS iframe, browsers that block third-party cookies (Safari, Chrome) would lose a cookie session.
Every page the tool renders after a launch carries `ltik` in its links and forms instead: it names the user,
course, resource link and duties that the validated launch established, when the session began (`se`), and —
where the browser keeps partitioned cookies — the browser it belongs to (`b`, see `browser_binding`).

- A reference is a bearer credential in a URL, so it is short-lived: a bare reference lasts
  `LTI_REFERENCE_MAX_AGE` (10 minutes). Each response signs a fresh one for its links and forms (`g.ltik`).
- A reference bound to a browser works only with that browser's cookie, and then for the whole session.
- An unbound reference (a browser without cookies) is renewed by the page itself: the page body carries a
  *session token* (another salt, never in a URL) that `POST /lti/session/renew` exchanges for a fresh reference.
- Either way the session ends `LTI_SESSION_MAX_AGE` (8 hours) after the launch.
- A request that changes something takes its reference from the body or the `X-Launch-Token` header only (never
  the query string) and only from the tool's own pages: the reference doubles as a CSRF token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import wraps

from flask import current_app, g, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from lti_tool.core.errors import NotAllowed
from lti_tool.core.responses import allow_framing_by
from lti_tool.extensions import db
from lti_tool.lti import browser_binding
from lti_tool.lti.models import Context, Deployment, LtiUser, ResourceLink
from lti_tool.lti.tool_conf import active_registration_of

SALT = "lti-launch-reference"
SESSION_SALT = "lti-launch-session"
RELAUNCH_HINT = "Open the activity again from your course; anything you saved is kept."


class SessionExpired(NotAllowed):
    """The session or its reference has run out; a new launch from the LMS starts a new one."""

    status = 401
    title = "Your session with the tool has ended"


@dataclass(frozen=True)
class LaunchContext:
    """Who launched, from where, with which duties — established by a validated launch only."""

    launch_id: str
    user_id: int
    deployment_id: int
    context_id: int | None
    resource_link_id: int | None
    duties: tuple[str, ...]
    return_url: str | None = None
    for_user_id: int | None = None  # Submission Review 1.0: the learner whose work is to be shown
    session_started_at: int | None = None  # epoch seconds of the launch that began the session
    browser: str | None = None  # the hash of the browser id the session is bound to (browser_binding)

    def to_payload(self) -> dict:
        payload = {
            "l": self.launch_id,
            "u": self.user_id,
            "d": self.deployment_id,
            "c": self.context_id,
            "r": self.resource_link_id,
            "k": list(self.duties),
            "ret": self.return_url,
            "f": self.for_user_id,
            "se": self.session_started_at,
        }
        if self.browser:
            payload["b"] = self.browser
        return payload

    @classmethod
    def from_payload(cls, data: dict) -> LaunchContext:
        return cls(
            launch_id=data["l"],
            user_id=data["u"],
            deployment_id=data["d"],
            context_id=data.get("c"),
            resource_link_id=data.get("r"),
            duties=tuple(data.get("k") or ()),
            return_url=data.get("ret"),
            for_user_id=data.get("f"),
            session_started_at=data.get("se"),
            browser=data.get("b"),
        )

    def has_duty(self, duty: str) -> bool:
        return duty in self.duties

    @property
    def is_bound(self) -> bool:
        return bool(self.browser)

    @property
    def user(self) -> LtiUser:
        return db.session.get(LtiUser, self.user_id)

    @property
    def for_user(self) -> LtiUser | None:
        return db.session.get(LtiUser, self.for_user_id) if self.for_user_id else None

    @property
    def deployment(self) -> Deployment:
        return db.session.get(Deployment, self.deployment_id)

    @property
    def context(self) -> Context | None:
        return db.session.get(Context, self.context_id) if self.context_id else None

    @property
    def resource_link(self) -> ResourceLink | None:
        return db.session.get(ResourceLink, self.resource_link_id) if self.resource_link_id else None


def _serializer(salt: str = SALT) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def start_session(launch: LaunchContext, *, bind_browser: bool) -> LaunchContext:
    """The session a validated launch begins; bound to this browser when its state came back in a cookie.

    Binding queues the partitioned browser cookie, which the launch's response then sets, whatever it is.
    """
    browser = browser_binding.bind_this_browser() if bind_browser else None
    return replace(launch, session_started_at=int(time.time()), browser=browser)


def issue_launch_token(launch: LaunchContext) -> str:
    """Sign a launch context into an `ltik` for links and forms (a context without a session starts one now)."""
    if launch.session_started_at is None:
        launch = replace(launch, session_started_at=int(time.time()))
    return _serializer().dumps(launch.to_payload())


def issue_session_token(launch: LaunchContext) -> str:
    """The page's session token: exchanged for fresh references by `renew_launch_token`, never put in a URL."""
    return _serializer(SESSION_SALT).dumps(launch.to_payload())


def _load(token: str, salt: str) -> tuple[LaunchContext, float]:
    """A signed launch context and its age in seconds; the session's end is checked here for every kind of token."""
    try:
        data, signed_at = _serializer(salt).loads(token, return_timestamp=True)
    except BadSignature:
        raise NotAllowed("This link is not valid.", hint="Open the activity again from your course.") from None
    now = time.time()
    launch = LaunchContext.from_payload(data)
    started = launch.session_started_at if launch.session_started_at is not None else signed_at.timestamp()
    if now - started > current_app.config["LTI_SESSION_MAX_AGE"]:
        _framed_by_its_platform(launch)
        raise SessionExpired("Your session with the tool has ended.", hint=RELAUNCH_HINT)
    return replace(launch, session_started_at=int(started)), now - signed_at.timestamp()


def read_launch_token(token: str) -> LaunchContext:
    """The launch context of a reference: NotAllowed when forged, expired, or bound to another browser."""
    launch, age = _load(token, SALT)
    if launch.is_bound:
        if not browser_binding.is_this_browser(launch.browser):
            _framed_by_its_platform(launch)
            raise NotAllowed(
                "This link belongs to another browser: it was opened from a course in a different browser or "
                "copied from someone else.",
                hint="Open the activity from your course in this browser.",
            )
    elif age > current_app.config["LTI_REFERENCE_MAX_AGE"]:
        _framed_by_its_platform(launch)
        raise SessionExpired("This link to the tool has expired: links last only a few minutes when the browser "
                             "does not keep the tool's cookies.", hint=RELAUNCH_HINT)
    return launch


def renew_launch_token(session_token: str) -> tuple[str, int]:
    """A fresh reference for the session a page's token names, and how many seconds it stays valid."""
    if not browser_binding.is_same_origin_request():
        raise NotAllowed("Only the tool's own pages can renew a session.")
    if not session_token:
        raise NotAllowed("This page can only be opened from your course in the LMS.",
                         hint="Open the activity from your course.")
    launch, _ = _load(session_token, SESSION_SALT)
    _require_active_deployment(launch)
    return issue_launch_token(launch), current_app.config["LTI_REFERENCE_MAX_AGE"]


def _framed_by_its_platform(launch: LaunchContext) -> None:
    """A genuine reference refused (ended, expired, another browser): its platform may still frame the message,
    so that the person reads it inside the LMS instead of a blocked frame."""
    registration = active_registration_of(launch.deployment_id)
    if registration is not None:
        allow_framing_by(registration.frame_origins)


def _require_active_deployment(launch: LaunchContext) -> None:
    registration = active_registration_of(launch.deployment_id)  # kept per process for seconds (lti.tool_conf)
    if registration is not None:
        allow_framing_by(registration.frame_origins)  # the page's frame-ancestors, with no query of its own
    else:
        raise NotAllowed(
            "This LMS's registration with the tool has been removed or switched off.",
            hint="Ask your LMS administrator; nothing you saved has been deleted.",
        )


def _reference_of_request() -> str | None:
    """The `ltik` of this request: for changes, from the tool's own pages and their body (or header) only."""
    if not browser_binding.is_state_changing():
        return request.args.get("ltik")
    if not browser_binding.is_same_origin_request():
        raise NotAllowed(
            "This change did not come from the tool's own page, so it was not made.",
            hint="Open the activity from your course and make the change there.",
        )
    return request.form.get("ltik") or request.headers.get("X-Launch-Token")


def current_launch() -> LaunchContext:
    """The launch of this request, from its `ltik`; the response's links and forms get a fresh one (`g.ltik`)."""
    if "lti_launch" not in g:
        token = _reference_of_request()
        if not token:
            raise NotAllowed(
                "This page can only be opened from your course in the LMS.",
                hint="Open the activity from your course.",
            )
        launch = read_launch_token(token)
        _require_active_deployment(launch)
        g.lti_launch = launch
        g.ltik = issue_launch_token(launch)
    return g.lti_launch


def launch_url_for(endpoint: str, **values) -> str:
    """`url_for` that carries the current launch reference along."""
    return url_for(endpoint, ltik=g.ltik, **values)


def require_duty(*duties: str):
    """A view decorator: the launch must grant one of these duties (least privilege otherwise)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            launch = current_launch()
            if not any(launch.has_duty(d) for d in duties):
                raise NotAllowed(
                    "Your role in this course does not give access to this page.",
                    hint="If you think it should, ask your instructor or LMS administrator.",
                )
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _page_session_token() -> str | None:
    """The session token for the page's body, only where the page must renew its references itself."""
    launch = g.get("lti_launch")
    if launch is None or launch.is_bound:
        return None
    return issue_session_token(launch)


def init_app(app) -> None:
    browser_binding.init_app(app)

    @app.context_processor
    def launch_helpers():
        return {
            "ltik": g.get("ltik"),
            "launch_url_for": launch_url_for,
            "lti_launch": g.get("lti_launch"),
            "lti_session": _page_session_token(),
        }
