"""Catalog views: the Library of Micro-Credentials and a page per micro-credential, for anyone launched."""

from __future__ import annotations

from flask import Blueprint, render_template

from lti_tool.catalog.binding import register_launch_listeners
from lti_tool.catalog.models import MicroCredential
from lti_tool.catalog.parts import PART_TITLES
from lti_tool.catalog.services import current_term, get_microcredential, list_microcredentials
from lti_tool.core import addresses
from lti_tool.core.errors import NotFound
from lti_tool.lti import roles
from lti_tool.lti.launch_context import current_launch, require_duty
from lti_tool.submissions.enrollments import seats_left

bp = Blueprint("catalog", __name__, url_prefix="/catalog")

ANY_DUTY = (roles.EDUCATOR, roles.INSTRUCTOR, roles.ASSESSOR, roles.ADMIN)


@bp.record_once
def _register_hooks(_state) -> None:
    """At app start: a launch's custom parameter binds its activity (`lti.hooks`)."""
    register_launch_listeners()


def badge_src(mc: MicroCredential) -> str | None:
    """The badge image's address when it is one a page may load (http(s) or this site), else None."""
    image = (mc.badge_image or "").strip()
    return image if addresses.is_image_address(image) else None


def initials(title: str) -> str:
    """Up to two initials of the title's main words, for the placeholder badge."""
    words = [word for word in title.split() if word[:1].isalpha() and word.lower() not in {"and", "of", "to", "the"}]
    return "".join(word[0].upper() for word in words[:2]) or "MC"


@bp.get("/")
@require_duty(*ANY_DUTY)
def index():
    """The Library of Micro-Credentials: every active micro-credential at a glance."""
    return render_template(
        "catalog/index.html",
        launch=current_launch(),
        microcredentials=list_microcredentials(),
        badge_src=badge_src,
        initials=initials,
    )


@bp.get("/<slug>")
@require_duty(*ANY_DUTY)
def detail(slug: str):
    """One micro-credential: what it asks, how it is judged, and the current term's dates and seats."""
    microcredential = get_microcredential(slug, include_retired=True)
    if microcredential is None:
        raise NotFound("That micro-credential is not in the catalog.")
    term = current_term()
    return render_template(
        "catalog/detail.html",
        launch=current_launch(),
        microcredential=microcredential,
        part_titles=PART_TITLES,
        term=term,
        seats_left=seats_left(microcredential, term),
        badge_src=badge_src,
        initials=initials,
    )
