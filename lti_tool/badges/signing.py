"""Badge signatures: VC-JWTs signed RS256 with the tool's key store (the same keys as LTI, see `core.keys`).

The JOSE header's `kid` is a URL (`/ob/keys/<thumbprint>`) that answers the public JWK, as OB 3.0 asks of a
`kid`; every key that ever signed stays resolvable there, so a rotation never invalidates an issued badge.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

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


def _segment(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify(token: str) -> SignatureCheck:
    """Check a VC-JWT this tool signed: the header's rules, the key its `kid` names, the signature.

    Done with `cryptography` directly (RS256 is RSASSA-PKCS1-v1_5 over SHA-256 of `header.payload`): PyJWT's
    decoder checks every character of a 4 KB token in Python, a third of the verification page's time.
    """
    try:
        header_part, payload_part, signature_part = token.split(".")
        header = json.loads(_segment(header_part))
        signature = _segment(signature_part)
    except (ValueError, binascii.Error):
        return SignatureCheck(False, "The credential is not a well-formed JWT.")
    if not isinstance(header, dict):
        return SignatureCheck(False, "The credential is not a well-formed JWT.")
    if header.get("alg") != ALGORITHM:
        return SignatureCheck(False, f"Unexpected signature algorithm {header.get('alg')!r}.")
    kid_url = str(header.get("kid") or "")
    kid = kid_url.rstrip("/").rsplit("/", 1)[-1]
    key = key_store().find(kid) if kid else None
    # The key's address as this tool serves it (its path; the origin is BASE_URL's, see `create_app`).
    if key is None or urlsplit(kid_url).path != urlsplit(urls.key(kid)).path:
        return SignatureCheck(False, "The signing key is not one of this issuer's keys.")
    try:
        _public_key(key).verify(signature, f"{header_part}.{payload_part}".encode(), padding.PKCS1v15(),
                                hashes.SHA256())
    except InvalidSignature:
        return SignatureCheck(False, "The signature does not verify with the issuer's key.")
    try:
        payload = json.loads(_segment(payload_part))
    except (ValueError, binascii.Error):
        return SignatureCheck(False, "The credential's payload is not JSON.")
    return SignatureCheck(True, "The signature verifies with the issuer's key.", payload)
