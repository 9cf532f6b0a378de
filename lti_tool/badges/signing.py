"""Badge signatures: VC-JWTs signed RS256 with the tool's key store (the same keys as LTI, see `core.keys`).

The JOSE header's `kid` is a URL (`/ob/keys/<thumbprint>`) that answers the public JWK, as OB 3.0 asks of a
`kid`; every key that ever signed stays resolvable there, so a rotation never invalidates an issued badge.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization

from lti_tool.badges import urls
from lti_tool.core.keys import ToolKey, key_store

ALGORITHM = "RS256"


@dataclass(frozen=True)
class SignatureCheck:
    ok: bool
    message: str
    payload: dict | None = None


_private_keys: dict[str, object] = {}
_public_keys: dict[str, object] = {}


def _private_key(key: ToolKey):
    """Parsed once per key (parsing a PEM costs more than signing with it)."""
    parsed = _private_keys.get(key.kid)
    if parsed is None:
        parsed = _private_keys[key.kid] = serialization.load_pem_private_key(key.private_pem.encode(), None)
    return parsed


def _public_key(key: ToolKey):
    parsed = _public_keys.get(key.kid)
    if parsed is None:
        parsed = _public_keys[key.kid] = serialization.load_pem_public_key(key.public_pem.encode())
    return parsed


def sign(payload: dict, *, typ: str = "JWT") -> str:
    """The compact JWS of `payload`, signed with the current signing key."""
    key = key_store().signing_key()
    return jwt.encode(payload, _private_key(key), algorithm=ALGORITHM,
                      headers={"kid": urls.key(key.kid), "typ": typ})


def verify(token: str) -> SignatureCheck:
    """Check a VC-JWT this tool signed: the header's rules, the key its `kid` names, the signature."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return SignatureCheck(False, "The credential is not a well-formed JWT.")
    if header.get("alg") != ALGORITHM:
        return SignatureCheck(False, f"Unexpected signature algorithm {header.get('alg')!r}.")
    kid_url = str(header.get("kid") or "")
    kid = kid_url.rstrip("/").rsplit("/", 1)[-1]
    key = key_store().find(kid) if kid else None
    if key is None or kid_url != urls.key(kid):
        return SignatureCheck(False, "The signing key is not one of this issuer's keys.")
    try:
        payload = jwt.decode(token, _public_key(key), algorithms=[ALGORITHM],
                             options={"verify_exp": False, "verify_nbf": False, "verify_aud": False})
    except jwt.PyJWTError as error:
        return SignatureCheck(False, f"The signature does not verify ({error}).")
    return SignatureCheck(True, "The signature verifies with the issuer's key.", payload)
