"""What a validated launch changes: the platform's users, courses, resource links, line items, memberships."""

from __future__ import annotations

from flask import current_app

from lti_tool.core.db import get_or_create
from lti_tool.core.errors import Conflict, NotFound
from lti_tool.extensions import db
from lti_tool.lti import claims as c
from lti_tool.lti.launch_context import LaunchContext
from lti_tool.lti.models import Context, Deployment, LineItem, LtiUser, Membership, Registration, ResourceLink
from lti_tool.lti.roles import duties_for_roles
from lti_tool.lti.tool_conf import find_deployment, find_registration

MICROCREDENTIAL_PARAMETER = "microcredential"


def record_launch(launch_id: str, body: dict) -> LaunchContext:
    """Upsert everything a validated launch tells us and return its launch context. Flushes, never commits."""
    registration = find_registration(body["iss"], c.client_id(body))
    deployment = find_deployment(body["iss"], c.client_id(body), body[c.DEPLOYMENT_ID])
    user = _record_user(registration, body)
    context = _record_context(deployment, body)
    resource_link = _record_resource_link(context, body) if context else None
    roles = body.get(c.ROLES) or []
    if context is not None:
        membership, _ = get_or_create(Membership, {"context_id": context.id, "user_id": user.id}, {"roles": roles})
        membership.roles = roles
        membership.status = "Active"
    db.session.flush()
    return LaunchContext(
        launch_id=launch_id,
        user_id=user.id,
        deployment_id=deployment.id,
        context_id=context.id if context else None,
        resource_link_id=resource_link.id if resource_link else None,
        duties=tuple(duties_for_roles(roles)),
        return_url=(body.get(c.LAUNCH_PRESENTATION) or {}).get("return_url"),
    )


def _record_user(registration: Registration, body: dict) -> LtiUser:
    user, _ = get_or_create(LtiUser, {"registration_id": registration.id, "sub": body["sub"]})
    # Name and email come only when the platform shares them (LTI 1.3 Core §5.3.6); keep what we had otherwise.
    for field in ("name", "given_name", "family_name", "email"):
        if body.get(field):
            setattr(user, field, body[field])
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
    slug = (body.get(c.CUSTOM) or {}).get(MICROCREDENTIAL_PARAMETER)
    if slug and not slug.startswith("$"):  # an unsubstituted variable is not a binding
        _bind_from_custom_parameter(resource_link, slug.strip())
    lineitem_url = (body.get(c.AGS) or {}).get("lineitem")
    if lineitem_url:
        line_item = resource_link.line_item
        if line_item is None:
            line_item = LineItem(resource_link=resource_link, url=lineitem_url, label=resource_link.title or "")
            db.session.add(line_item)
        line_item.url = lineitem_url
    return resource_link


def _bind_from_custom_parameter(resource_link: ResourceLink, slug: str) -> None:
    """The custom parameter binds an activity that has no working binding yet; it never rebinds one.

    Educators' work belongs to the micro-credential they started: a changed parameter (edited in the LMS,
    a second deep linking choice) must not hide it. The mismatch is logged for the administrator.
    """
    from lti_tool.catalog.services import get_microcredential

    current = resource_link.microcredential_slug
    if current == slug:
        return
    if current and get_microcredential(current, include_retired=True) is not None:
        current_app.logger.warning("resource link %s stays bound to %s; the launch asked for %s",
                                   resource_link.id, current, slug)
        return
    resource_link.microcredential_slug = slug


def bind_resource_link(resource_link: ResourceLink, slug: str) -> ResourceLink:
    """Bind an unbound activity to a micro-credential (an instructor's choice on first launch)."""
    from lti_tool.catalog.services import get_microcredential

    current = get_microcredential(resource_link.microcredential_slug, include_retired=True)
    if current is not None:
        # Educators' work belongs to the micro-credential they started; rebinding would hide it.
        raise Conflict(f"This activity is already set up with “{current.title}”.",
                       hint="Add a new activity to the course for another micro-credential.")
    if get_microcredential(slug) is None:
        raise NotFound("That micro-credential is not in the catalog.")
    resource_link.microcredential_slug = slug
    db.session.flush()
    return resource_link
