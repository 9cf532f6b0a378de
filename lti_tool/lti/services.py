"""What a validated launch changes: the platform's users, courses, resource links, line items, memberships."""

from __future__ import annotations

from lti_tool.core.db import get_or_create
from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from lti_tool.lti import claims as c
from lti_tool.lti.hooks import extra_duties, resource_link_launched
from lti_tool.lti.launch_context import LaunchContext
from lti_tool.lti.models import Context, Deployment, LineItem, LtiUser, Membership, Registration, ResourceLink
from lti_tool.lti.roles import DUTY_ORDER, duties_for_roles
from lti_tool.lti.tool_conf import find_deployment, find_registration

# The custom parameter that binds a resource link to a micro-credential (set by the deep linking response).
MICROCREDENTIAL_PARAMETER = "microcredential"
USER_FIELDS = ("name", "given_name", "family_name", "email")


def record_launch(launch_id: str, body: dict) -> LaunchContext:
    """Upsert everything a validated launch tells us and return its launch context. Flushes, never commits."""
    registration = find_registration(body["iss"], c.client_id(body))
    deployment = find_deployment(body["iss"], c.client_id(body), body[c.DEPLOYMENT_ID])
    user = _record_user(registration, body)
    user.last_launch_at = utcnow()
    context = _record_context(deployment, body)
    resource_link = _record_resource_link(context, body) if context else None
    roles = body.get(c.ROLES) or []
    if context is not None:
        membership, _ = get_or_create(Membership, {"context_id": context.id, "user_id": user.id}, {"roles": roles})
        membership.roles = roles
        membership.status = "Active"
    db.session.flush()
    for_user = _record_for_user(registration, body)
    return LaunchContext(
        launch_id=launch_id,
        user_id=user.id,
        deployment_id=deployment.id,
        context_id=context.id if context else None,
        resource_link_id=resource_link.id if resource_link else None,
        duties=_duties(user, context, roles),
        return_url=(body.get(c.LAUNCH_PRESENTATION) or {}).get("return_url"),
        for_user_id=for_user.id if for_user else None,
    )


def _duties(user: LtiUser, context: Context | None, roles: list[str]) -> tuple[str, ...]:
    """The duties the roles grant, with those the registered providers add, in landing order."""
    duties = tuple(duties_for_roles(roles))
    granted = set(duties) | extra_duties(user, context, duties)
    return tuple(duty for duty in DUTY_ORDER if duty in granted)


def _record_user(registration: Registration, body: dict) -> LtiUser:
    user, _ = get_or_create(LtiUser, {"registration_id": registration.id, "sub": body["sub"]})
    # Name and email come only when the platform shares them (LTI 1.3 Core §5.3.6); keep what we had otherwise.
    for field in USER_FIELDS:
        if body.get(field):
            setattr(user, field, body[field])
    return user


def _record_for_user(registration: Registration, body: dict) -> LtiUser | None:
    """The learner whose work a submission review launch is about (Submission Review 1.0 §3.2, `for_user`).

    Its `user_id` is the platform's `sub` of that learner, on the same registration as the launching user.
    """
    claim = body.get(c.FOR_USER) or {}
    if not claim.get("user_id"):
        return None
    user, _ = get_or_create(LtiUser, {"registration_id": registration.id, "sub": str(claim["user_id"])})
    for field in USER_FIELDS:
        if claim.get(field):
            setattr(user, field, claim[field])
    db.session.flush()
    return user


def _record_context(deployment: Deployment, body: dict) -> Context | None:
    claim = body.get(c.CONTEXT) or {}
    if not claim.get("id"):
        return None
    context, _ = get_or_create(Context, {"deployment_id": deployment.id, "context_id": claim["id"]})
    context.title = claim.get("title") or context.title
    context.label = claim.get("label") or context.label
    nrps = body.get(c.NRPS) or {}
    if nrps.get("context_memberships_url"):
        context.memberships_url = nrps["context_memberships_url"]
    ags = body.get(c.AGS) or {}
    if ags.get("lineitems"):
        context.lineitems_url = ags["lineitems"]
    if ags.get("scope"):
        context.ags_scopes = list(ags["scope"])
    return context


def _record_resource_link(context: Context, body: dict) -> ResourceLink | None:
    claim = body.get(c.RESOURCE_LINK) or {}
    if not claim.get("id"):
        return None
    resource_link, _ = get_or_create(ResourceLink, {"context_id": context.id, "resource_link_id": claim["id"]})
    resource_link.title = claim.get("title") or resource_link.title
    resource_link_launched(resource_link, body)  # the catalog binds it (custom parameter, LTI 1.3 Core §5.4.1)
    lineitem_url = (body.get(c.AGS) or {}).get("lineitem")
    if lineitem_url:
        line_item = resource_link.line_item
        if line_item is None:
            line_item = LineItem(resource_link=resource_link, url=lineitem_url, label=resource_link.title or "")
            db.session.add(line_item)
        line_item.url = lineitem_url
    return resource_link
