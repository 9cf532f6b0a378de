"""Which micro-credential an LMS activity (a resource link) stands for: bind it, and read the binding.

The catalog answers a launch through `lti.hooks` (registered from the catalog blueprint), so that `lti`
never imports the catalog.
"""

from __future__ import annotations

from flask import current_app

from lti_tool.catalog.models import MicroCredential
from lti_tool.catalog.services import get_microcredential
from lti_tool.core.errors import Conflict, NotFound
from lti_tool.extensions import db
from lti_tool.lti import claims as c
from lti_tool.lti.hooks import on_resource_link_launch
from lti_tool.lti.models import ResourceLink
from lti_tool.lti.services import MICROCREDENTIAL_PARAMETER


def microcredential_of(resource_link: ResourceLink | None) -> MicroCredential | None:
    """The micro-credential an activity is bound to, retired ones included (work in progress stays)."""
    if resource_link is None or not resource_link.is_bound:
        return None
    return get_microcredential(resource_link.microcredential_slug, include_retired=True)


def bind_on_launch(resource_link: ResourceLink, body: dict) -> None:
    """A launch listener: the `microcredential` custom parameter binds an activity (LTI 1.3 Core §5.4.1)."""
    slug = (body.get(c.CUSTOM) or {}).get(MICROCREDENTIAL_PARAMETER)
    if slug and not slug.startswith("$"):  # an unsubstituted variable is not a binding
        bind_from_custom_parameter(resource_link, slug.strip())


def bind_from_custom_parameter(resource_link: ResourceLink, slug: str) -> None:
    """The custom parameter binds an activity that has no working binding yet; it never rebinds one.

    Educators' work belongs to the micro-credential they started: a changed parameter (edited in the LMS,
    a second deep linking choice) must not hide it. The mismatch is logged for the administrator.
    """
    current = resource_link.microcredential_slug
    if current == slug:
        return
    if current and get_microcredential(current, include_retired=True) is not None:
        current_app.logger.warning("resource link %s stays bound to %s; the launch asked for %s",
                                   resource_link.id, current, slug)
        return
    resource_link.microcredential_slug = slug


def bind_resource_link(resource_link: ResourceLink, slug: str) -> ResourceLink:
    """Bind an unbound activity to a micro-credential (an instructor's choice on first launch). Flushes."""
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


def register_launch_listeners() -> None:
    """Called once at app start (the catalog blueprint's `record_once`)."""
    on_resource_link_launch(bind_on_launch)
