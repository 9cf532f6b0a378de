"""Revocation for OB 3.0: a W3C Bitstring Status List per issuer, served as a signed VC-JWT.

Chosen over 1EdTech's revocation list because it is the W3C recommendation that general VC verifiers read,
and it gives herd privacy: a verifier downloads the whole list and asks nothing about one badge.
Each badge's bit is its assessment's id (one badge per assessment, known before the badge is written, so
issuing needs no flush): list n of an issuer covers ids n·LIST_BITS … (n+1)·LIST_BITS − 1; a set bit means
revoked. Un-revoking clears the bit again.
"""

from __future__ import annotations

import base64
import gzip

from lti_tool.badges import signing, urls
from lti_tool.badges.contexts import VC_V2
from lti_tool.badges.models import Badge, BadgeStatus
from lti_tool.catalog.models import IssuerProfile
from lti_tool.core.models import utcnow
from lti_tool.extensions import db

LIST_BITS = 131072  # 16 KiB: the spec's minimum size, for herd privacy


def entry_for(badge: Badge) -> dict:
    """The `credentialStatus` of a badge."""
    list_number, index = position_of(badge)
    url = urls.status_list(badge.issuer_profile_id, list_number)
    return {"id": f"{url}#{index}", "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
            "statusListIndex": str(index), "statusListCredential": url}


def position_of(badge: Badge) -> tuple[int, int]:
    """(list number, index in it) of a badge's bit."""
    return divmod(badge.assessment_id, LIST_BITS)


def encode(revoked_indexes: list[int]) -> str:
    """Multibase base64url (no padding, prefix `u`) of the GZIP of the bitstring; bit 0 is the first byte's MSB."""
    bits = bytearray(LIST_BITS // 8)
    for index in revoked_indexes:
        bits[index // 8] |= 0x80 >> (index % 8)
    return "u" + base64.urlsafe_b64encode(gzip.compress(bytes(bits), mtime=0)).rstrip(b"=").decode()


def revoked_indexes(issuer_id: int, list_number: int) -> list[int]:
    first = list_number * LIST_BITS
    ids = db.session.scalars(db.select(Badge.assessment_id).where(
        Badge.issuer_profile_id == issuer_id, Badge.status == BadgeStatus.REVOKED.value,
        Badge.assessment_id >= first, Badge.assessment_id < first + LIST_BITS))
    return [assessment_id - first for assessment_id in ids]


def status_list_credential(issuer: IssuerProfile, list_number: int) -> str:
    """The BitstringStatusListCredential as a VC-JWT, signed now with the current key."""
    url = urls.status_list(issuer.id, list_number)
    now = utcnow()
    document = {
        "@context": [VC_V2],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": urls.profile_v3(issuer.id),
        "validFrom": urls.iso(now),
        "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList", "statusPurpose": "revocation",
                              "encodedList": encode(revoked_indexes(issuer.id, list_number))},
    }
    return signing.sign({**document, "iss": document["issuer"], "jti": url, "nbf": int(now.timestamp()),
                         "iat": int(now.timestamp())})
