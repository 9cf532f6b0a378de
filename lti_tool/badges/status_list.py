"""Revocation for OB 3.0: a W3C Bitstring Status List per issuer, served as a signed VC-JWT.

Chosen over 1EdTech's revocation list because it is the W3C recommendation that general VC verifiers read,
and it gives herd privacy: a verifier downloads the whole list and asks nothing about one badge.
List n of an issuer covers indexes n·LIST_BITS … (n+1)·LIST_BITS − 1; a set bit means revoked.

A set bit stays set: the spec's `revocation` purpose is not reversible (a verifier that saw it may keep it). The
bits are the rows of `BadgeRevokedStatus`, never deleted; a badge's current credential has its own index
(`Badge.status_index`), never used by another credential of the issuer:
- first issue: its assessment's id (one badge per assessment, known before the badge is written, so issuing
  needs no flush), below REISSUE_BASE;
- reinstated (`issuing.unrevoke` signs a new credential): REISSUE_BASE + the id of the revocation row it
  undoes. A revocation is undone at most once (the badge then has the new index), so no two credentials share
  an index. These indexes fill lists 1024 onwards, which only reinstated credentials use: their herd is the
  issuer's other reinstated badges, smaller than the herd of list 0, a price paid only by badges revoked once.
"""

from __future__ import annotations

import base64
import gzip
from datetime import timedelta

from lti_tool.badges import signing, urls
from lti_tool.badges.contexts import VC_V2
from lti_tool.badges.models import Badge, BadgeRevokedStatus
from lti_tool.catalog.models import IssuerProfile
from lti_tool.core.models import utcnow
from lti_tool.extensions import db

CLOCK_ALLOWANCE = timedelta(minutes=5)
LIST_BITS = 131072  # 16 KiB: the spec's minimum size, for herd privacy
REISSUE_BASE = LIST_BITS * 1024  # 134,217,728: the first index of a reinstated badge's credential


def entry_for(badge: Badge) -> dict:
    """The `credentialStatus` of a badge's current credential."""
    list_number, index = position_of(badge.status_index)
    url = urls.status_list(badge.issuer_profile_id, list_number)
    return {"id": f"{url}#{index}", "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
            "statusListIndex": str(index), "statusListCredential": url}


def position_of(status_index: int) -> tuple[int, int]:
    """(list number, index in it) of a credential's bit."""
    return divmod(status_index, LIST_BITS)


def first_index(badge: Badge) -> int:
    """The index of a badge's first credential: its assessment's id, known before the badge is flushed."""
    if not 0 <= badge.assessment_id < REISSUE_BASE:
        raise RuntimeError(f"Assessment id {badge.assessment_id} reaches the indexes of reinstated credentials.")
    return badge.assessment_id


def reissue_index(revocation: BadgeRevokedStatus) -> int:
    """The index of the credential that replaces a revoked one: free for good, since each revocation row is
    undone at most once and no assessment id reaches REISSUE_BASE."""
    return REISSUE_BASE + revocation.id


def is_revoked(issuer_id: int, status_index: int) -> bool:
    return db.session.scalar(db.select(BadgeRevokedStatus.id).where(
        BadgeRevokedStatus.issuer_profile_id == issuer_id, BadgeRevokedStatus.status_index == status_index)) is not None


def encode(revoked_indexes: list[int]) -> str:
    """Multibase base64url (no padding, prefix `u`) of the GZIP of the bitstring; bit 0 is the first byte's MSB."""
    bits = bytearray(LIST_BITS // 8)
    for index in revoked_indexes:
        bits[index // 8] |= 0x80 >> (index % 8)
    return "u" + base64.urlsafe_b64encode(gzip.compress(bytes(bits), mtime=0)).rstrip(b"=").decode()


def revoked_indexes(issuer_id: int, list_number: int) -> list[int]:
    """The set bits of one list: every credential of the issuer ever revoked there (reinstated badges' too)."""
    first = list_number * LIST_BITS
    indexes = db.session.scalars(db.select(BadgeRevokedStatus.status_index).where(
        BadgeRevokedStatus.issuer_profile_id == issuer_id,
        BadgeRevokedStatus.status_index >= first, BadgeRevokedStatus.status_index < first + LIST_BITS))
    return [index - first for index in indexes]


def status_list_credential(issuer: IssuerProfile, list_number: int) -> str:
    """The BitstringStatusListCredential as a VC-JWT, signed now with the current key.

    Dated a few minutes back: a verifier whose clock runs a little behind ours must not find it "not yet valid".
    """
    url = urls.status_list(issuer.id, list_number)
    now = utcnow().replace(microsecond=0) - CLOCK_ALLOWANCE
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
