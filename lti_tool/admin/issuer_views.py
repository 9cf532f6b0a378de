"""Admins' issuer profiles: the organizations that issue badges (name, URL, email, description, image).

Profiles are shared by every platform, like the catalog: any admin may read them, only admins of a platform that
manages the catalog (`Registration.manages_catalog`) may add or change one — the catalog pages' rule.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request

from lti_tool.admin.catalog_views import require_catalog_manager
from lti_tool.badges import issuers, urls
from lti_tool.catalog.models import IssuerProfile
from lti_tool.core.addresses import IMAGE_ADDRESS_HINT
from lti_tool.core.errors import NotFound
from lti_tool.core.ids import parse_id
from lti_tool.extensions import db
from lti_tool.lti import roles
from lti_tool.lti.launch_context import current_launch, launch_url_for, require_duty

bp = Blueprint("admin_issuers", __name__, url_prefix="/admin/issuers")

# What a finished action says on the list (an allow-list: nothing from the URL is shown as is).
DONE_MESSAGES = {
    "created": "was added.",
    "updated": "was saved: its Open Badges documents say so from now on.",
    "unchanged": "had no changes to save.",
}


def _profile_or_404(issuer_id: int) -> IssuerProfile:
    profile = db.session.get(IssuerProfile, issuer_id)
    if profile is None:
        raise NotFound("There is no such issuer profile.")
    return profile


def _render_form(profile: IssuerProfile | None, values: dict, problems: dict | None = None, status: int = 200):
    return render_template("admin/issuer_form.html", profile=profile, values=values, problems=problems or {},
                           image_hint=IMAGE_ADDRESS_HINT, limits=issuers.LIMITS), status


def _save(profile: IssuerProfile | None):
    """Create or change from the posted form; on problems, the form again with them and what was typed."""
    try:
        values = issuers.clean(request.form)
    except issuers.IssuerProblems as error:
        typed = {field: request.form.get(field, "") for field in issuers.FIELDS}
        return _render_form(profile, typed, error.problems, status=400)
    if profile is None:
        profile = issuers.create_profile(values)
        done = "created"
    else:
        done = "updated" if issuers.update_profile(profile, values) else "unchanged"
    return redirect(launch_url_for("admin_issuers.index", done=done, issuer=profile.id), code=303)


@bp.get("/")
@require_duty(roles.ADMIN)
def index():
    """Every issuer profile, what it issues and how many badges it issued."""
    done = request.args.get("done")
    done_profile = None
    issuer_id = parse_id(request.args.get("issuer"))
    if done in DONE_MESSAGES and issuer_id is not None:
        done_profile = db.session.get(IssuerProfile, issuer_id)
    return render_template(
        "admin/issuers.html",
        summaries=issuers.summaries(),
        can_manage=current_launch().deployment.registration.manages_catalog,
        done_profile=done_profile,
        done_message=DONE_MESSAGES.get(done or ""),
        issuer_page_url=urls.issuer_page,
    )


@bp.route("/new", methods=["GET", "POST"])
@require_catalog_manager
def create():
    """A new issuer profile; micro-credentials choose it on their catalog form."""
    if request.method == "POST":
        return _save(None)
    return _render_form(None, dict.fromkeys(issuers.FIELDS, ""))


@bp.route("/<int:issuer_id>/edit", methods=["GET", "POST"])
@require_catalog_manager
def edit(issuer_id: int):
    """Change a profile: its Open Badges documents say so from now on; issued badges keep what they were
    signed with."""
    profile = _profile_or_404(issuer_id)
    if request.method == "POST":
        return _save(profile)
    return _render_form(profile, {field: getattr(profile, field) or "" for field in issuers.FIELDS})
