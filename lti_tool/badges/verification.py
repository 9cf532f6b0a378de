"""The live check behind the public verification page: signature, status and expiry, stated plainly.

It checks what a verifier checks, on the credential as issued: the VC-JWT's signature with the key its `kid`
names, that the credential is this badge's, its bit in the issuer's status list, and its validity dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lti_tool.badges import signing, status_list, urls
from lti_tool.badges.models import Badge
from lti_tool.core.models import utcnow


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str


@dataclass
class Verdict:
    state: str  # valid | revoked | expired | invalid
    checks: list[Check] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return self.state == "valid"


def _status_bit_set(badge: Badge) -> bool:
    list_number, index = status_list.position_of(badge)
    return index in status_list.revoked_indexes(badge.issuer_profile_id, list_number)


def verify(badge: Badge, now: datetime | None = None) -> Verdict:
    now = now or utcnow()
    checks = []
    signature = signing.verify(badge.credential_jwt or "")
    checks.append(Check("Signature", signature.ok, signature.message))
    payload = signature.payload or {}
    is_this_badge = payload.get("id") == urls.credential_v3(badge.uuid) == payload.get("jti")
    checks.append(Check("Credential", is_this_badge,
                        "The credential is this badge's." if is_this_badge else "The credential names another badge."))
    revoked = _status_bit_set(badge)
    checks.append(Check("Status", not revoked, "Revoked by the issuer." if revoked else "Not revoked."))
    expired = badge.is_expired(now)
    checks.append(Check("Expiry", not expired,
                        f"Expired on {urls.iso(badge.expires_at)}." if expired else
                        (f"Valid until {urls.iso(badge.expires_at)}." if badge.expires_at else "Does not expire.")))
    if not (signature.ok and is_this_badge):
        state = "invalid"
    elif revoked:
        state = "revoked"
    elif expired:
        state = "expired"
    else:
        state = "valid"
    return Verdict(state, checks)
