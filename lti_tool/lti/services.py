"""What a validated launch changes: the platform's users, courses, resource links, line items, memberships."""

from __future__ import annotations

import hashlib
import json

from flask import current_app
from sqlalchemy import true

from lti_tool.core.db import get_or_create
from lti_tool.core.errors import LaunchError
from lti_tool.core.models import utcnow
from lti_tool.core.transactions import after_commit
from lti_tool.extensions import cache, db
from lti_tool.lti import claims as c
from lti_tool.lti.ags import SCORE_MAXIMUM
from lti_tool.lti.hooks import extra_duties, first_launch_from, resource_link_launched
from lti_tool.lti.launch_context import LaunchContext
from lti_tool.lti.models import (
    Context,
    Deployment,
    LineItem,
    LtiUser,
    Membership,
    Registration,
    ResourceLink,
    ResourceLinkLaunch,
)
from lti_tool.lti.roles import DUTY_ORDER, duties_for_roles
from lti_tool.lti.tool_conf import (
    DeploymentRecord,
    RegistrationRecord,
    find_deployment,
    find_registration,
    forget_registrations,
)

# The custom parameter that binds a resource link to a micro-credential (set by the deep linking response).
MICROCREDENTIAL_PARAMETER = "microcredential"
USER_FIELDS = ("name", "given_name", "family_name", "email")


def record_launch(launch_id: str, body: dict) -> LaunchContext:
    """Upsert everything a validated launch tells us and return its launch context. Flushes, never commits.

    A launch whose claims are the same as one recorded within `LTI_IDENTITY_FRESH_SECONDS` changes nothing:
    its rows are found by the ids remembered under the claims' fingerprint (one query) and only the duties
    are worked out again (the providers of `lti.hooks.extra_duties` ask the database as of now).
    """
    registration = find_registration(body["iss"], c.client_id(body))
    deployment = find_deployment(body["iss"], c.client_id(body), body[c.DEPLOYMENT_ID])
    roles = body.get(c.ROLES) or []
    fingerprint = _fingerprint(registration.id, deployment.id, body)
    rows = _recorded_rows(cache.get(fingerprint), deployment.id, registration.id)
    if rows is None:
        registration, deployment = _still_active(registration, deployment, body)
        rows = _record_claims(registration, deployment, body, roles)
        _remember_when_committed(_fingerprint(registration.id, deployment.id, body), rows)
    user, context, resource_link, for_user = rows
    db.session.info["lti_launch_rows"] = rows  # held for the request (the landing page reads them by id)
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


def _record_claims(registration, deployment, body: dict, roles: list[str]) -> tuple:
    user = _record_user(registration, body)
    user.last_launch_at = utcnow()
    context = _record_context(deployment, body)
    resource_link = _record_resource_link(context, body) if context else None
    if context is not None:
        membership, _ = get_or_create(Membership, {"context_id": context.id, "user_id": user.id}, {"roles": roles})
        membership.roles = roles
        membership.status = "Active"
    db.session.flush()
    if resource_link is not None:
        _record_resource_link_launch(resource_link, user)
    for_user = _record_for_user(registration, body)
    return user, context, resource_link, for_user


# Claims that differ on every launch of the same person in the same place, and change nothing that is recorded.
_PER_LAUNCH_CLAIMS = frozenset({"iat", "exp", "nbf", "nonce", "jti", "auth_time", c.LAUNCH_PRESENTATION,
                                c.DEEP_LINKING_SETTINGS})


def _fingerprint(registration_id: int, deployment_id: int, body: dict) -> str:
    """The cache key of what a launch records: every claim but the per-launch ones, with where it came through."""
    recorded = {name: value for name, value in body.items() if name not in _PER_LAUNCH_CLAIMS}
    canonical = json.dumps([registration_id, deployment_id, recorded], sort_keys=True, separators=(",", ":"),
                           default=str)
    return "lti-seen:" + hashlib.sha256(canonical.encode()).hexdigest()


def _remember_when_committed(fingerprint: str, rows: tuple) -> None:
    """Remember the rows' ids under the fingerprint once they are committed (a rolled-back launch leaves none)."""
    ids = [row.id if row is not None else None for row in rows]
    lifetime = current_app.config["LTI_IDENTITY_FRESH_SECONDS"]
    if lifetime > 0:
        after_commit(lambda: cache.set(fingerprint, ids, timeout=lifetime))


def _recorded_rows(ids: list | None, deployment_id: int, registration_id: int) -> tuple | None:
    """The rows a recent identical launch recorded, in one query (two for a submission review), read only while
    the deployment and its registration are still active; None when any of them is gone or switched off."""
    if not ids or len(ids) != 4 or ids[0] is None or (ids[2] is not None and ids[1] is None):
        return None
    user_id, context_id, resource_link_id, for_user_id = ids
    entities = [LtiUser, *([Context] if context_id is not None else []),
                *([ResourceLink] if resource_link_id is not None else [])]
    query = (
        db.select(*entities).select_from(LtiUser)
        .join(Deployment, true())  # each row by its key: one row or none
        .join(Registration, Registration.id == Deployment.registration_id)
        .where(LtiUser.id == user_id, Deployment.id == deployment_id, Registration.id == registration_id,
               Deployment.is_active.is_(True), Registration.is_active.is_(True))
    )
    if context_id is not None:
        query = query.join(Context, Context.deployment_id == Deployment.id).where(Context.id == context_id)
        # the membership as this launch would leave it (a roster sync may have marked it inactive since)
        query = query.join(Membership, (Membership.context_id == Context.id) & (Membership.user_id == LtiUser.id)) \
            .where(Membership.status == "Active")
    if resource_link_id is not None:
        query = query.join(ResourceLink, ResourceLink.context_id == Context.id)
        query = query.where(ResourceLink.id == resource_link_id)
        # and the record that the person launched from it (where their scores go): missing, the launch is recorded
        query = query.join(ResourceLinkLaunch, (ResourceLinkLaunch.resource_link_id == ResourceLink.id)
                           & (ResourceLinkLaunch.user_id == LtiUser.id))
    found = db.session.execute(query).first()
    if found is None:
        return None
    user, context, resource_link = (*found, None, None)[:3]
    for_user = db.session.get(LtiUser, for_user_id) if for_user_id is not None else None
    if for_user_id is not None and for_user is None:
        return None
    return user, context, resource_link, for_user


def _still_active(registration: RegistrationRecord, deployment: DeploymentRecord, body: dict) -> tuple:
    """The launch's registration and deployment as the database has them now (the snapshots may be seconds old)."""
    active = db.session.scalar(
        db.select(Deployment.id).join(Registration, Registration.id == Deployment.registration_id)
        .where(Deployment.id == deployment.id, Deployment.registration_id == registration.id,
               Deployment.is_active.is_(True), Registration.is_active.is_(True))
    )
    if active is not None:
        return registration, deployment
    forget_registrations()
    fresh = find_registration(body["iss"], c.client_id(body))
    fresh_deployment = find_deployment(body["iss"], c.client_id(body), body[c.DEPLOYMENT_ID])
    if fresh is None or fresh_deployment is None:
        raise LaunchError("This LMS's registration with the tool has been switched off or removed.", status=401,
                          hint="Ask your LMS administrator; nothing you saved has been deleted.")
    if _verified_with(fresh) != _verified_with(registration):  # the launch's signature was checked with the old one
        raise LaunchError("This LMS's registration with the tool changed during the launch.", status=401,
                          hint="Open the activity again from your course.")
    return fresh, fresh_deployment


def _verified_with(registration: RegistrationRecord) -> tuple:
    """What a launch's validation relied on: who the platform is and the keys it signs with."""
    return registration.issuer, registration.client_id, registration.key_set_url, registration.key_set


def _duties(user: LtiUser, context: Context | None, roles: list[str]) -> tuple[str, ...]:
    """The duties the roles grant, with those the registered providers add, in landing order."""
    duties = tuple(duties_for_roles(roles))
    granted = set(duties) | extra_duties(user, context, duties)
    return tuple(duty for duty in DUTY_ORDER if duty in granted)


def _record_user(registration: Registration, body: dict) -> LtiUser:
    """The launching person: one per issuer and `sub`, whichever of the issuer's registrations they came through."""
    user, _ = get_or_create(LtiUser, {"issuer": registration.issuer, "sub": body["sub"]},
                            {"registration_id": registration.id})
    # Name and email come only when the platform shares them (LTI 1.3 Core §5.3.6); keep what we had otherwise.
    for field in USER_FIELDS:
        if body.get(field):
            setattr(user, field, body[field])
    return user


def _record_resource_link_launch(resource_link: ResourceLink, user: LtiUser) -> None:
    """The person launched from this resource link: their scores go to its line item too (`gradebook.services.
    placements_for`), also when another link of the same micro-credential holds their enrollment.

    Written on the full path only: a launch whose claims were recorded within `LTI_IDENTITY_FRESH_SECONDS` finds
    this row in its one query and writes nothing, so `last_launch_at` is as exact as that, like the user's.
    """
    launch, created = get_or_create(ResourceLinkLaunch, {"resource_link_id": resource_link.id, "user_id": user.id})
    if created:
        first_launch_from(resource_link, user)  # e.g. the gradebook copies the score another placement holds
    else:
        launch.last_launch_at = utcnow()


def _record_for_user(registration: Registration, body: dict) -> LtiUser | None:
    """The learner whose work a submission review launch is about (Submission Review 1.0 §3.2, `for_user`).

    Its `user_id` is the platform's `sub` of that learner, of the same issuer as the launching user.
    """
    claim = body.get(c.FOR_USER) or {}
    if not claim.get("user_id"):
        return None
    user, _ = get_or_create(LtiUser, {"issuer": registration.issuer, "sub": str(claim["user_id"])},
                            {"registration_id": registration.id})
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
            # The claim names the column, not its maximum: assumed to be the one the tool declares (deep linking)
            # and Moodle's default, 100. Scores always carry their scoreMaximum, which platforms scale from.
            line_item = LineItem(resource_link=resource_link, url=lineitem_url, label=resource_link.title or "",
                                 score_maximum=SCORE_MAXIMUM)
            db.session.add(line_item)
        line_item.url = lineitem_url
    return resource_link
