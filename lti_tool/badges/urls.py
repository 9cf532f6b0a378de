"""Every public address a badge names: the `id`s of its documents, its images and its verification page.

They are permanent (printed on records, baked into images, kept by verifiers): change a rule here only with
redirects from the old addresses.
"""

from __future__ import annotations

from datetime import datetime

from lti_tool.core.urls import external_url


def iso(moment: datetime) -> str:
    """An RFC 3339 / ISO 8601 UTC date-time to the second, as badges write dates."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- Open Badges 2.0 (hosted) ---------------------------------------------------------------------------------
def assertion_v2(badge_uuid: str) -> str:
    return external_url("badges.assertion_v2", badge_uuid=badge_uuid)


def badgeclass_v2(issuer_id: int, slug: str) -> str:
    """A micro-credential as one issuer's BadgeClass: a later change of its issuer leaves issued badges' alone."""
    return external_url("badges.badgeclass_v2", issuer_id=issuer_id, slug=slug)


def issuer_v2(issuer_id: int) -> str:
    return external_url("badges.issuer_v2", issuer_id=issuer_id)


def revocations_v2(issuer_id: int) -> str:
    return external_url("badges.revocations_v2", issuer_id=issuer_id)


# -- Open Badges 3.0 ------------------------------------------------------------------------------------------
def credential_v3(badge_uuid: str) -> str:
    return external_url("badges.credential_v3", badge_uuid=badge_uuid)


def profile_v3(issuer_id: int) -> str:
    return external_url("badges.issuer_v3", issuer_id=issuer_id)


def achievement_v3(issuer_id: int, slug: str) -> str:
    return external_url("badges.achievement_v3", issuer_id=issuer_id, slug=slug)


def status_list(issuer_id: int, list_number: int) -> str:
    return external_url("badges.status_list", issuer_id=issuer_id, list_number=list_number)


def key(kid: str) -> str:
    return external_url("badges.key", kid=kid)


# -- pages and images -----------------------------------------------------------------------------------------
def criteria(slug: str) -> str:
    return external_url("badges.criteria", slug=slug)


def issuer_page(issuer_id: int) -> str:
    return external_url("badges.issuer_page", issuer_id=issuer_id)


def achievement_image(slug: str, fmt: str = "png") -> str:
    return external_url("badges.achievement_image", slug=slug, fmt=fmt)


def verification(badge_uuid: str) -> str:
    return external_url("badges.verify", badge_uuid=badge_uuid)


def baked_image(badge_uuid: str, fmt: str = "png") -> str:
    return external_url("badges.baked_image", badge_uuid=badge_uuid, fmt=fmt)


def embed(badge_uuid: str) -> str:
    return external_url("badges.embed", badge_uuid=badge_uuid)


def earner_page(public_slug: str) -> str:
    return external_url("badges.earner_page", public_slug=public_slug)


def download(badge_uuid: str, what: str) -> str:
    """A download of the badge: its baked `png` or `svg` (as an attachment), its `jwt` or its `json` assertion."""
    if what in ("png", "svg"):
        return external_url("badges.baked_image", badge_uuid=badge_uuid, fmt=what, download=1)
    endpoint = {"jwt": "badges.credential_download", "json": "badges.assertion_download"}[what]
    return external_url(endpoint, badge_uuid=badge_uuid)
