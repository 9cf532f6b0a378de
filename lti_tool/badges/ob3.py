"""Open Badges 3.0: the OpenBadgeCredential (a VC 2.0 credential) of a badge, its Profile and Achievement.

The credential is secured as a VC-JWT (OB 3.0 §8.2, VC-JWT proof format): the JWT payload is the credential
with the registered claims mapped from it (`iss` = issuer.id, `jti` = id, `nbf` = validFrom, `exp` =
validUntil), signed RS256 by `signing.sign`. Its `credentialStatus` is a W3C Bitstring Status List entry
(`status_list`) at the badge's bit.
"""

from __future__ import annotations

from datetime import datetime

from flask import g

from lti_tool.badges import achievements, signing, status_list, urls
from lti_tool.badges.contexts import OB_V3, VC_V2
from lti_tool.badges.models import Badge
from lti_tool.catalog.models import IssuerProfile, MicroCredential

CONTEXT = [VC_V2, OB_V3]
SCHEMA = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
MEDIA_TYPE = "application/vc+jwt"


def _once_per_context(key: tuple, build):
    """A document part every badge of a bulk release shares (the issuer, the achievement), built once per request
    (or app context): they differ only when their row changed, which `key` names."""
    built = g.setdefault("badge_document_parts", {})
    if key not in built:
        built[key] = build()
    return built[key]


def profile(issuer: IssuerProfile) -> dict:
    return _once_per_context(("profile", issuer.id, issuer.updated_at), lambda: _profile(issuer))


def achievement(microcredential: MicroCredential, issuer: IssuerProfile) -> dict:
    """The micro-credential as an Achievement of this issuer (its `creator`)."""
    key = ("achievement", microcredential.id, microcredential.updated_at, issuer.id, issuer.updated_at)
    return _once_per_context(key, lambda: _achievement(microcredential, issuer))


def _profile(issuer: IssuerProfile) -> dict:
    document = {
        "id": urls.profile_v3(issuer.id),
        "type": ["Profile"],
        "name": issuer.name,
        "url": issuer.url or urls.issuer_page(issuer.id),
    }
    if issuer.email:
        document["email"] = issuer.email
    if issuer.description:
        document["description"] = issuer.description
    image = achievements.issuer_image_url(issuer)
    if image:
        document["image"] = {"id": image, "type": "Image"}
    return document


def _achievement(microcredential: MicroCredential, issuer: IssuerProfile) -> dict:
    return {
        "id": urls.achievement_v3(issuer.id, microcredential.slug),
        "type": ["Achievement"],
        "achievementType": "MicroCredential",
        "name": microcredential.title,
        "description": achievements.description_of(microcredential),
        "criteria": {"id": achievements.criteria_url(microcredential),
                     "narrative": achievements.criteria_narrative(microcredential)},
        "image": {"id": achievements.image_url(microcredential), "type": "Image",
                  "caption": f"{microcredential.title} badge"},
        "creator": profile(issuer),
        "alignment": [{
            "type": ["Alignment"],
            "targetName": f"Competency: {microcredential.title}",
            "targetUrl": achievements.criteria_url(microcredential) + "#competency",
            "targetDescription": microcredential.competency,
            "targetType": "Competency",
        }],
        "tag": ["micro-credential", "educator professional learning"],
    }


def credential(badge: Badge, *, valid_from: datetime | None = None) -> dict:
    """The OpenBadgeCredential of an issued badge (its recipient already hashed).

    `valid_from`: when a reinstated badge's credential is signed again (`issuing.unrevoke`). OB 3.0 takes the
    latest `validFrom` of an issuer's credentials with one `id` as its current version, so the new one gets the
    time it was signed, and `awardedDate` keeps the date the badge was first issued (the spec's words for both).
    """
    microcredential = badge.microcredential
    document = {
        "@context": CONTEXT,
        "id": urls.credential_v3(badge.uuid),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": microcredential.title,
        "issuer": profile(badge.issuer_profile),
        "validFrom": urls.iso(valid_from or badge.issued_at),
        "awardedDate": urls.iso(badge.issued_at),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [{
                "type": "IdentityObject",
                "identityHash": badge.recipient_hash,
                "identityType": "emailAddress",
                "hashed": True,
                "salt": badge.recipient_salt,
            }],
            "achievement": achievement(microcredential, badge.issuer_profile),
        },
        "credentialStatus": status_list.entry_for(badge),
        "credentialSchema": [{"id": SCHEMA, "type": "1EdTechJsonSchemaValidator2019"}],
    }
    if badge.expires_at is not None:
        document["validUntil"] = urls.iso(badge.expires_at)
    return document


def sign_credential(document: dict, badge: Badge, *, valid_from: datetime | None = None) -> str:
    """The VC-JWT: the credential as payload, with the registered claims that mirror it (`valid_from` as given
    to `credential`)."""
    signed_at = int((valid_from or badge.issued_at).timestamp())
    claims = {**document, "iss": document["issuer"]["id"], "jti": document["id"], "nbf": signed_at, "iat": signed_at}
    if badge.expires_at is not None:
        claims["exp"] = int(badge.expires_at.timestamp())
    return signing.sign(claims)
