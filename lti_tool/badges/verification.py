"""The live check behind the public verification page: signature, status and expiry, stated plainly.

It checks what a verifier checks, on the credential as issued: the VC-JWT's signature with the key its `kid`
names, that the credential is this badge's, its bit in the issuer's status list, and its validity dates. The
bit is the one the credential names, which must be the badge's current index (a reinstated badge has a new
credential at a new index; the revoked one keeps its set bit: see `status_list`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

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


def _names_current_index(badge: Badge, payload: dict) -> bool:
    """Whether the credential's `credentialStatus` is the badge's current entry (list and index)."""
    entry = payload.get("credentialStatus")
    if badge.status_index is None or not isinstance(entry, dict):
        return False
    current = status_list.entry_for(badge)
    return (entry.get("statusPurpose") == "revocation"
            and str(entry.get("statusListIndex")) == current["statusListIndex"]
            and urlsplit(str(entry.get("statusListCredential") or "")).path
            == urlsplit(current["statusListCredential"]).path)


def verify(badge: Badge, now: datetime | None = None) -> Verdict:
    now = now or utcnow()
    checks = []
    signature = signing.verify(badge.credential_jwt or "")
    checks.append(Check("Signature", signature.ok, signature.message))
    payload = signature.payload or {}
    own_path = urlsplit(urls.credential_v3(badge.uuid)).path
    is_this_badge = (payload.get("id") == payload.get("jti")
                     and urlsplit(str(payload.get("id") or "")).path == own_path)
    checks.append(Check("Credential", is_this_badge,
                        "The credential is this badge's." if is_this_badge else "The credential names another badge."))
    current_entry = _names_current_index(badge, payload)
    revoked = current_entry and status_list.is_revoked(badge.issuer_profile_id, badge.status_index)
    checks.append(Check("Status", current_entry and not revoked,
                        "Revoked by the issuer." if revoked else "Not revoked." if current_entry else
                        "The credential does not carry this badge's current status entry."))
    expired = badge.is_expired(now)
    checks.append(Check("Expiry", not expired,
                        f"Expired on {urls.iso(badge.expires_at)}." if expired else
                        (f"Valid until {urls.iso(badge.expires_at)}." if badge.expires_at else "Does not expire.")))
    if not (signature.ok and is_this_badge and current_entry):
        state = "invalid"
    elif revoked:
        state = "revoked"
    elif expired:
        state = "expired"
    else:
        state = "valid"
    return Verdict(state, checks)
