"""Open Badges 2.0: the hosted Assertion, its BadgeClass and Issuer, and the issuer's revocation list.

Hosted verification (OB 2.0 §Verification): each document is served at its `id` as `application/ld+json`;
a revoked assertion answers 410 Gone with `revoked: true`, and the issuer's `revocationList` names it.
"""

from __future__ import annotations

from lti_tool.badges import achievements, urls
from lti_tool.badges.contexts import OB_V2
from lti_tool.badges.models import Badge, BadgeStatus
from lti_tool.catalog.models import IssuerProfile, MicroCredential
from lti_tool.extensions import db


def assertion(badge: Badge, *, image_url: str) -> dict:
    """The assertion as issued (kept on the badge); `image_url` is the baked PNG."""
    document = {
        "@context": OB_V2,
        "type": "Assertion",
        "id": urls.assertion_v2(badge.uuid),
        "recipient": {"type": "email", "hashed": True, "salt": badge.recipient_salt,
                      "identity": badge.recipient_hash},
        "badge": urls.badgeclass_v2(badge.issuer_profile_id, badge.microcredential.slug),
        "verification": {"type": "HostedBadge"},
        "issuedOn": urls.iso(badge.issued_at),
        "image": image_url,
        "narrative": f"Earned by a three-part submission assessed against the rubric of "
                     f"{badge.microcredential.title}.",
    }
    if badge.expires_at is not None:
        document["expires"] = urls.iso(badge.expires_at)
    return document


def reason(badge: Badge) -> str:
    return badge.revocation_reason or "Revoked by the issuer"


def revoked_assertion(badge: Badge) -> dict:
    """What a revoked assertion answers (with 410 Gone)."""
    return {"@context": OB_V2, "type": "Assertion", "id": urls.assertion_v2(badge.uuid), "revoked": True,
            "revocationReason": reason(badge)}


def badgeclass(microcredential: MicroCredential, profile: IssuerProfile) -> dict:
    """The micro-credential as this issuer's BadgeClass (each assertion names the one of the issuer it had)."""
    return {
        "@context": OB_V2,
        "type": "BadgeClass",
        "id": urls.badgeclass_v2(profile.id, microcredential.slug),
        "name": microcredential.title,
        "description": achievements.description_of(microcredential),
        "image": achievements.image_url(microcredential),
        "criteria": {"id": achievements.criteria_url(microcredential),
                     "narrative": achievements.criteria_narrative(microcredential)},
        "issuer": urls.issuer_v2(profile.id),
        "alignment": [{
            "targetName": f"Competency: {microcredential.title}",
            "targetUrl": achievements.criteria_url(microcredential) + "#competency",
            "targetDescription": microcredential.competency,
        }],
        "tags": ["micro-credential", "educator professional learning"],
    }


def issuer(profile: IssuerProfile) -> dict:
    document = {
        "@context": OB_V2,
        "type": "Issuer",
        "id": urls.issuer_v2(profile.id),
        "name": profile.name,
        "url": profile.url or urls.issuer_page(profile.id),
        "revocationList": urls.revocations_v2(profile.id),
    }
    if profile.email:
        document["email"] = profile.email
    if profile.description:
        document["description"] = profile.description
    image = achievements.issuer_image_url(profile)
    if image:
        document["image"] = image
    return document


def revocation_list(profile: IssuerProfile) -> dict:
    revoked = db.session.scalars(
        db.select(Badge).where(Badge.issuer_profile_id == profile.id, Badge.status == BadgeStatus.REVOKED.value)
        .order_by(Badge.id)
    )
    return {
        "@context": OB_V2,
        "type": "RevocationList",
        "id": urls.revocations_v2(profile.id),
        "issuer": urls.issuer_v2(profile.id),
        "revokedAssertions": [
            {"id": urls.assertion_v2(badge.uuid), "revocationReason": reason(badge)} for badge in revoked
        ],
    }
