"""Admins' badge pages: the badges earned by people of their platform, one badge with its audit log, and
revoking or reinstating it.

An admin sees the earners' identities (this is not the blind assessor's view), but only of their own platform:
another platform's badge answers 404, as if it did not exist. Revoking goes through `issuing.revoke`, which every
verifier then sees (the OB 2.0 assertion answers 410, the OB 3.0 status list bit is set, the public page says so)
and which tells the earner by email.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request

from lti_tool.badges import issuing, queries, urls
from lti_tool.badges.models import Badge
from lti_tool.catalog.services import current_term
from lti_tool.core.dates import zone_of
from lti_tool.core.errors import NotFound
from lti_tool.lti import roles
from lti_tool.lti.launch_context import current_launch, launch_url_for, require_duty

bp = Blueprint("admin_badges", __name__, url_prefix="/admin/badges")

# What a finished action says on the badge's page (an allow-list: nothing from the URL is shown as is).
DONE_MESSAGES = {
    "revoked": "The badge was revoked. Verifiers now see it as revoked, and the earner is being told by email.",
    "unrevoked": "The badge was reinstated with a new Open Badges 3.0 credential: it verifies again, and the earner "
                 "is being told by email to download it again (earlier copies stay revoked).",
}
REASON_MAX_LENGTH = 2000


def _registration_id() -> int:
    return current_launch().deployment.registration_id


def _badge_or_404(badge_uuid: str) -> Badge:
    badge = queries.badge_of_platform(_registration_id(), badge_uuid)
    if badge is None:
        raise NotFound("There is no such badge among the badges of your platform.")
    return badge


def _render_badge(badge: Badge, *, status: int = 200, refusal: str | None = None,
                  reason_problem: str | None = None, reason: str = "", note: str = ""):
    return render_template(
        "admin/badge.html",
        badge=badge,
        events=queries.events_of(badge),
        status_labels=queries.STATUS_LABELS,
        verification_url=urls.verification(badge.uuid) if not badge.is_awaiting_email else None,
        assertion_url=urls.assertion_v2(badge.uuid) if not badge.is_awaiting_email else None,
        credential_url=urls.credential_v3(badge.uuid) if not badge.is_awaiting_email else None,
        done_message=DONE_MESSAGES.get(request.args.get("done", "")) if status == 200 else None,
        refusal=refusal,
        reason_problem=reason_problem,
        reason=reason,
        note=note,
        reason_max_length=REASON_MAX_LENGTH,
    ), status


@bp.get("/")
@require_duty(roles.ADMIN)
def index():
    """The platform's badges, newest first: filtered by status, micro-credential and a name or email."""
    badge_filter = queries.BadgeFilter.from_args(request.args)
    registration_id = _registration_id()
    return render_template(
        "admin/badges.html",
        page=queries.badge_page(registration_id, badge_filter),
        badge_filter=badge_filter,
        microcredentials=queries.microcredentials_with_badges(registration_id),
        status_labels=queries.STATUS_LABELS,
        registration=current_launch().deployment.registration,
        time_zone=zone_of(current_term()),  # a list of many terms: the current term's zone, named in the heading
    )


@bp.get("/<badge_uuid>")
@require_duty(roles.ADMIN)
def detail(badge_uuid: str):
    """One badge: its facts, its audit log, and what an admin can do to it."""
    return _render_badge(_badge_or_404(badge_uuid))


@bp.post("/<badge_uuid>/revoke")
@require_duty(roles.ADMIN)
def revoke(badge_uuid: str):
    """Revoke with a reason (required: the earner and every verifier read it)."""
    badge = _badge_or_404(badge_uuid)
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        return _render_badge(badge, status=400, reason_problem="Write the reason: the earner and every verifier "
                                                               "read it. Nothing was changed.")
    if len(reason) > REASON_MAX_LENGTH:
        return _render_badge(badge, status=400, reason=reason, reason_problem=(
            f"Keep the reason to {REASON_MAX_LENGTH} characters (this has {len(reason)}). Nothing was changed."))
    try:
        issuing.revoke(badge, current_launch().user_id, reason)
    except issuing.RevocationRefused as refused:
        return _render_badge(badge, status=409, refusal=refused.message)
    return redirect(launch_url_for("admin_badges.detail", badge_uuid=badge.uuid, done="revoked"), code=303)


@bp.post("/<badge_uuid>/unrevoke")
@require_duty(roles.ADMIN)
def unrevoke(badge_uuid: str):
    """Reinstate a revoked badge (an optional note goes into the audit log)."""
    badge = _badge_or_404(badge_uuid)
    note = (request.form.get("note") or "").strip()
    if len(note) > REASON_MAX_LENGTH:
        return _render_badge(badge, status=400, note=note, refusal=(
            f"Keep the note to {REASON_MAX_LENGTH} characters (this has {len(note)}). Nothing was changed."))
    try:
        issuing.unrevoke(badge, current_launch().user_id, note)
    except issuing.RevocationRefused as refused:
        return _render_badge(badge, status=409, refusal=refused.message)
    return redirect(launch_url_for("admin_badges.detail", badge_uuid=badge.uuid, done="unrevoked"), code=303)
