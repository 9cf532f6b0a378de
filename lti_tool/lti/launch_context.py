"""The signed, expiring launch reference (`ltik`) that replaces cookies after a launch.

Inside an LMS iframe, browsers that block third-party cookies (Safari, Chrome) would lose a cookie
session. Every page the tool renders after a launch carries `ltik` in its links and forms instead:
it names the user, course, resource link and duties that the validated launch established, is signed
with the app's secret and expires. Because it is unguessable and only ever sent in the page itself,
a form that must carry it in its body is also protected against cross-site request forgery.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from flask import current_app, g, request, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from lti_tool.core.errors import NotAllowed
from lti_tool.extensions import db
from lti_tool.lti.models import Context, Deployment, LtiUser, ResourceLink

SALT = "lti-launch-reference"


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

    def to_payload(self) -> dict:
        return {
            "l": self.launch_id,
            "u": self.user_id,
            "d": self.deployment_id,
            "c": self.context_id,
            "r": self.resource_link_id,
            "k": list(self.duties),
            "ret": self.return_url,
            "f": self.for_user_id,
        }

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
        )

    def has_duty(self, duty: str) -> bool:
        return duty in self.duties

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


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def issue_launch_token(launch: LaunchContext) -> str:
    """Sign a launch context into an `ltik` for links and forms."""
    return _serializer().dumps(launch.to_payload())


def read_launch_token(token: str) -> LaunchContext:
    """The launch context of a token; NotAllowed when forged or expired."""
    try:
        data = _serializer().loads(token, max_age=current_app.config["LTI_LAUNCH_TOKEN_MAX_AGE"])
    except SignatureExpired:
        raise NotAllowed(
            "Your session with the tool has expired.",
            hint="Open the activity again from your course; anything you saved is kept.",
        ) from None
    except BadSignature:
        raise NotAllowed("This link is not valid.", hint="Open the activity again from your course.") from None
    return LaunchContext.from_payload(data)


def current_launch() -> LaunchContext:
    """The launch of this request, from `ltik` — in the form body for POSTs, so that it doubles as a CSRF token."""
    if "lti_launch" not in g:
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            token = request.form.get("ltik") or request.headers.get("X-Launch-Token")
        else:
            token = request.args.get("ltik")
        if not token:
            raise NotAllowed(
                "This page can only be opened from your course in the LMS.",
                hint="Open the activity from your course.",
            )
        launch = read_launch_token(token)
        deployment = launch.deployment
        if deployment is None or not deployment.is_active or not deployment.registration.is_active:
            raise NotAllowed(
                "This LMS's registration with the tool has been removed or switched off.",
                hint="Ask your LMS administrator; nothing you saved has been deleted.",
            )
        g.lti_launch = launch
        g.ltik = token
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


def init_app(app) -> None:
    @app.context_processor
    def launch_helpers():
        return {"ltik": g.get("ltik"), "launch_url_for": launch_url_for, "lti_launch": g.get("lti_launch")}

