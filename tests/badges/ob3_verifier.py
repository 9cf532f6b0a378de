"""Open Badges 3.0 verification of a VC-JWT, written for the tests from the specifications alone.

Nothing here comes from ``lti_tool``: the point is to check the tool's credentials the way an outside
verifier would. Sources, section by section:

* Open Badges 3.0 (1EdTech), "Proofs (Signatures)" > "JSON Web Token Proof Format": the JOSE header has
  ``alg`` (RS256), ``kid`` (a URI that dereferences to a JWK) or ``jwk``, optional ``typ`` which "if
  present, MUST be set to 'JWT'", and "Additional JOSE Headers are NOT allowed"; a JWK "MUST never
  contain 'd'". The JWT payload IS the credential, with ``iss`` = ``issuer.id``, ``jti`` = ``id``,
  ``sub`` = ``credentialSubject.id``, ``nbf`` = ``validFrom``, ``exp`` = ``validUntil`` (required when
  there is a ``validUntil``). Only credentials made under VC Data Model 1.1 carry the credential in a
  ``vc`` claim instead (the note under "Verify a Credential"); such a payload is unwrapped, but then
  fails the shape checks, which ask for VC Data Model 2.0 as OB 3.0.3 does.
* Open Badges 3.0, "Verification and Validation": schema conformance, ``credentialSubject`` identified
  by ``id`` and/or ``identifier``, proof, status, ``validFrom``/``validUntil``, recipient by identifier
  ("Verify the Recipient Using an Identifier"), and the IdentityHash type: "Identifiers and salts MUST
  be encoded in UTF-8 prior to hashing", hash over identifier + salt, hex in either case. No
  normalisation of the identifier (no lower-casing) is specified: the known value is hashed as given.
* W3C Bitstring Status List v1.0: ``BitstringStatusListEntry`` (statusPurpose, statusListIndex as a
  base-10 string, statusListCredential URL, optional statusSize) and ``BitstringStatusListCredential``
  (``credentialSubject.type`` BitstringStatusList, statusPurpose, ``encodedList`` = multibase base64url,
  prefix ``u``, no padding, of the GZIP-compressed bitstring, at least 16KB = 131,072 entries, index 0
  the left-most bit of the first byte), and its validate algorithm.
* 1EdTech Revocation List Status Method (type ``1EdTechRevocationList``, named by OB 3.0 "Check the
  status"): GET the ``credentialStatus.id``; the credential is revoked if its ``id`` is in the list's
  ``revokedCredential`` entries with ``revoked`` true or omitted. The spec text itself was not at
  hand; this follows 1EdTech's own validator (digital-credentials-public-validator,
  RevocationListProbe).
* W3C VC Data Model 2.0 (``validFrom``/``validUntil`` date-time stamps) and the IANA registration of
  ``application/vc+jwt`` for a VC secured as a JWT (the status list credential is fetched as that).

Policy of this project on top of the specifications (the tests' requirements, documented here so a
failure message makes sense): ``type`` names ``OpenBadgeCredential`` (the spec also allows the alias
AchievementCredential); the recipient is an ``identifier`` list of hashed ``emailAddress`` IdentityObjects
(sha256); no plain email address anywhere in the credential; the status list is signed by the issuer of
the credential; the JWK at ``kid`` is a bare RSA JWK of at least 2048 bits (1EdTech's validator parses
the document at ``kid`` as one JWK, not a JWK Set); exactly one of ``kid``/``jwk``. And what 1EdTech's
formal JSON Schema for the credential asks beyond the prose (checked here since the schema file is not in
this repository): ``type`` is an array on the credential, the issuer Profile, the AchievementSubject and
the Achievement; an ``image`` is an object ``{"id", "type": "Image"}``; ``credentialStatus`` has an ``id``;
``identityType`` is one of the IdentifierTypeEnum values (``emailAddress``, not ``email``).

1EdTech's JSON Schema for the credential is used when a copy is found (see :data:`SCHEMA_FILE_NAME` and
:func:`_find_schema`); this repository does not carry one.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

Getter = Callable[[str], tuple[int, Mapping[str, str], bytes]]

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
VC_V1_CONTEXT = "https://www.w3.org/2018/credentials/v1"
OB_V3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
HEADER_MEMBERS = frozenset({"alg", "kid", "jwk", "typ"})
CREDENTIAL_TYP = (None, "JWT")  # OB 3.0: typ, if present, MUST be "JWT"
STATUS_LIST_TYP = (None, "JWT", "vc+jwt")  # a plain VC secured as a JWT (VC-JOSE-COSE) may say vc+jwt
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MIN_RSA_BITS = 2048
MIN_STATUS_ENTRIES = 131_072  # 16KB of bits: Bitstring Status List's minimumNumberOfEntries
VC_JWT_MEDIA_TYPE = "application/vc+jwt"
SCHEMA_FILE_NAME = "ob_v3p0_achievementcredential_schema.json"

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)
_SHA256_HASH = re.compile(r"^sha256\$[0-9a-fA-F]{64}$")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


@dataclass(frozen=True)
class Check:
    """One named step: ``passed`` and a human-readable ``message`` (on failure, why)."""

    name: str
    passed: bool
    message: str

    def __str__(self) -> str:
        return f"[{'pass' if self.passed else 'FAIL'}] {self.name}: {self.message}"


@dataclass
class Verification:
    """What :func:`verify_ob3` found.

    ``checks``: every step, in order (names listed in :func:`verify_ob3`). ``ok``: every check passed.
    ``status``: "Verified", or why not: "Invalid" (header, key, signature, claims, shape or status-list
    problems), "Revoked", "Suspended", "Expired" (``validUntil``/``exp`` in the past), "NotYetValid"
    (``validFrom`` in the future). ``header``/``payload``: the decoded JOSE header and JWT payload;
    ``credential``: the OpenBadgeCredential (the payload itself, or its ``vc`` claim for a VC-DM 1.1
    credential); ``jwk``: the public key used; ``notes``: things not checked (e.g. no JSON Schema file).
    """

    checks: list[Check] = field(default_factory=list)
    status: str = "Invalid"
    header: dict | None = None
    payload: dict | None = None
    credential: dict | None = None
    jwk: dict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def get(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def __getitem__(self, name: str) -> Check:
        found = self.get(name)
        if found is None:
            raise KeyError(f"no check named {name!r}; checks: {[c.name for c in self.checks]}")
        return found

    def summary(self) -> str:
        failed = [str(c) for c in self.checks if not c.passed]
        return "\n".join([f"status: {self.status}", *(["failed:", *failed, "all:"] if failed else []),
                          *(str(c) for c in self.checks), *self.notes])

    def assert_ok(self) -> Verification:
        if not self.ok:
            raise AssertionError("Open Badges 3.0 verification failed:\n" + self.summary())
        return self

    def _add(self, name: str, passed: bool, message: str) -> bool:
        self.checks.append(Check(name, bool(passed), message))
        return bool(passed)


class _Fail(Exception):
    """A step's failure message."""


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def b64url_decode(segment: str) -> bytes:
    """Unpadded base64url, as JWS compact serialisation and multibase 'u' use."""
    if not isinstance(segment, str) or not _B64URL.match(segment):
        raise _Fail("not unpadded base64url")
    if len(segment) % 4 == 1:
        raise _Fail("impossible base64url length")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _Fail(f"bad base64url: {exc}") from exc


def _b64url_uint(value) -> int:
    raw = b64url_decode(value)
    if not raw:
        raise _Fail("empty integer")
    return int.from_bytes(raw, "big")


def parse_datetime(value) -> datetime:
    """An RFC 3339 date-time with a timezone (VC-DM 2.0's dateTimeStamp) as an aware datetime."""
    if not isinstance(value, str):
        raise _Fail(f"{value!r} is not a string")
    match = _RFC3339.match(value)
    if not match:
        raise _Fail(f"{value!r} is not an RFC 3339 date-time with a timezone")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = match.group(7)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    if match.group(8):
        tz = UTC
    else:
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        tz = timezone(offset if match.group(9) == "+" else -offset)
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as exc:
        raise _Fail(f"{value!r}: {exc}") from exc


def _numeric_date(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Fail(f"{value!r} is not a NumericDate (a JSON number)")
    return float(value)


def _types(value) -> list:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    return []


def _issuer_id(credential: dict):
    issuer = credential.get("issuer")
    if isinstance(issuer, str):
        return issuer
    if isinstance(issuer, dict):
        return issuer.get("id")
    return None


def _is_uri(value) -> bool:
    return isinstance(value, str) and bool(_URI.match(value))


def _is_http_url(value) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://")) and _is_uri(value)


def _text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _fetch(get: Getter, url: str) -> tuple[int, dict, bytes]:
    try:
        status, headers, body = get(url)
    except Exception as exc:  # noqa: BLE001 - reported as the step's failure
        raise _Fail(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc
    return status, {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}, body or b""


def _media_type(headers: dict) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def requests_getter(timeout: float = 10.0, session=None) -> Getter:
    """A ``get`` for :func:`verify_ob3` that uses ``requests`` (no redirects are hidden: they are
    followed, as a verifier would)."""
    import requests

    http = session or requests.Session()

    def get(url: str):
        response = http.get(url, timeout=timeout)
        return response.status_code, dict(response.headers), response.content

    return get


def decode_unverified(jwt_text: str) -> tuple[dict, dict]:
    """The JOSE header and payload of a compact JWS, without verifying anything (for test messages)."""
    parts = jwt_text.strip().split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS (three dot-separated parts)")
    return json.loads(b64url_decode(parts[0])), json.loads(b64url_decode(parts[1]))


# --------------------------------------------------------------------------------------------------
# Steps 1-3: JOSE header, key, signature, payload and claims
# --------------------------------------------------------------------------------------------------


def _check_jwk(jwk: object, source: str) -> rsa.RSAPublicKey:
    if not isinstance(jwk, dict):
        raise _Fail(f"{source} is not a JSON object")
    if "keys" in jwk and "kty" not in jwk:
        raise _Fail(f"{source} is a JWK Set; the kid must dereference to one JWK (1EdTech's validator reads one)")
    private = sorted(PRIVATE_JWK_MEMBERS & set(jwk))
    if private:
        raise _Fail(f"{source} contains private key members {private}: a published JWK MUST never contain 'd'")
    if jwk.get("kty") != "RSA":
        raise _Fail(f"{source} has kty {jwk.get('kty')!r}, not 'RSA' (RS256 needs an RSA key)")
    if "alg" in jwk and jwk["alg"] != "RS256":
        raise _Fail(f"{source} says alg {jwk['alg']!r}, not RS256")
    if "use" in jwk and jwk["use"] != "sig":
        raise _Fail(f"{source} says use {jwk['use']!r}, not 'sig'")
    if "key_ops" in jwk and "verify" not in (jwk["key_ops"] or []):
        raise _Fail(f"{source} key_ops {jwk['key_ops']!r} lacks 'verify'")
    try:
        n, e = _b64url_uint(jwk.get("n")), _b64url_uint(jwk.get("e"))
    except _Fail as exc:
        raise _Fail(f"{source} n/e: {exc}") from exc
    try:
        key = rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:
        raise _Fail(f"{source} is not a usable RSA key: {exc}") from exc
    if key.key_size < MIN_RSA_BITS:
        raise _Fail(f"{source} is a {key.key_size}-bit RSA key; at least {MIN_RSA_BITS} bits expected")
    return key


def _check_header(header: dict, allowed_typ: tuple) -> None:
    alg = header.get("alg")
    if alg != "RS256":
        if alg in (None, "none") or str(alg).lower() == "none":
            raise _Fail(f"alg {alg!r}: an unsigned JWT is never acceptable")
        if str(alg).upper().startswith("HS"):
            raise _Fail(f"alg {alg!r}: a shared-secret MAC cannot prove the issuer; RS256 expected")
        raise _Fail(f"alg {alg!r}: RS256 expected")
    extra = sorted(set(header) - HEADER_MEMBERS)
    if extra:
        raise _Fail(f"JOSE header members {extra} are not allowed (only alg, kid, jwk, typ)")
    if header.get("typ") not in allowed_typ:
        raise _Fail(f"typ {header.get('typ')!r}: must be absent or one of {[t for t in allowed_typ if t]}")
    if ("kid" in header) == ("jwk" in header):
        raise _Fail("the header must carry exactly one of kid and jwk")
    if "kid" in header and not _is_uri(header["kid"]):
        raise _Fail(f"kid {header['kid']!r} is not an absolute URI")


def _verify_jws(
    vf: Verification, jwt_text: str, *, get: Getter, prefix: str, allowed_typ: tuple
) -> tuple[dict, dict] | None:
    """Header, key and RS256 signature; returns (header, payload) or None after recording the failure."""
    parts = jwt_text.strip().split(".") if isinstance(jwt_text, str) else []
    if len(parts) != 3:
        vf._add(prefix + "jose_header", False, "not a compact JWS: expected three dot-separated parts")
        return None
    try:
        header = json.loads(b64url_decode(parts[0]))
        if not isinstance(header, dict):
            raise _Fail("the JOSE header is not a JSON object")
        _check_header(header, allowed_typ)
    except (_Fail, ValueError) as exc:
        vf._add(prefix + "jose_header", False, str(exc))
        return None
    key_by = "kid" if "kid" in header else "jwk"
    vf._add(prefix + "jose_header", True, f"alg RS256, typ {header.get('typ')!r}, key by {key_by}")

    try:
        if "kid" in header:
            kid = header["kid"]
            if not _is_http_url(kid):
                raise _Fail(f"kid {kid!r}: only HTTP(S) URLs can be dereferenced here (DID URLs are not required)")
            status, headers, body = _fetch(get, kid)
            if status != 200:
                raise _Fail(f"GET {kid} answered HTTP {status}")
            media = _media_type(headers)
            if media not in ("application/jwk+json", "application/json") and not media.endswith("+json"):
                raise _Fail(f"GET {kid} answered Content-Type {media or 'none'}, "
                            "not application/jwk+json or application/json")
            try:
                jwk = json.loads(body)
            except ValueError as exc:
                raise _Fail(f"GET {kid} did not answer JSON: {exc}") from exc
            key = _check_jwk(jwk, f"the JWK at {kid}")
            source = f"JWK dereferenced from kid {kid}"
        else:
            jwk = header["jwk"]
            key = _check_jwk(jwk, "the header's jwk")
            source = "JWK embedded in the header (not bound to the issuer by any fetch)"
    except _Fail as exc:
        vf._add(prefix + "public_key", False, str(exc))
        return None
    if not prefix:
        vf.jwk = jwk
    vf._add(prefix + "public_key", True, f"{source}: RSA {key.key_size} bits")

    try:
        signature = b64url_decode(parts[2])
        if len(signature) != (key.key_size + 7) // 8:
            raise _Fail(f"signature is {len(signature)} bytes; an RS256 signature with this key "
                        f"is {(key.key_size + 7) // 8}")
        key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        vf._add(prefix + "signature", False, "RS256 signature does not verify with the key")
        return None
    except _Fail as exc:
        vf._add(prefix + "signature", False, str(exc))
        return None
    vf._add(prefix + "signature", True, "RS256 signature verifies")

    try:
        payload = json.loads(b64url_decode(parts[1]))
        if not isinstance(payload, dict):
            raise _Fail("the JWT payload is not a JSON object")
    except (_Fail, ValueError) as exc:
        vf._add(prefix + "payload", False, f"payload: {exc}")
        return None
    return header, payload


def _credential_from_payload(payload: dict) -> tuple[dict, str]:
    if "vc" in payload and "@context" in payload:
        raise _Fail("the payload has both a credential at top level and a 'vc' claim")
    if "vc" in payload:
        vc = payload["vc"]
        if not isinstance(vc, dict):
            raise _Fail("the 'vc' claim is not a JSON object")
        context = _types(vc.get("@context"))
        if not context or context[0] != VC_V1_CONTEXT:
            raise _Fail(
                "a 'vc' claim is only for VC Data Model 1.1 credentials; a VC-DM 2.0 (OB 3.0.3) credential "
                "is the JWT payload itself"
            )
        return vc, "VC-DM 1.1 credential in the 'vc' claim"
    if "@context" not in payload:
        raise _Fail("the payload holds no credential (no @context, no 'vc' claim)")
    return payload, "the payload is the credential (VC-DM 2.0)"


def _check_claims(vf: Verification, payload: dict, credential: dict, *, prefix: str, now: datetime,
                  leeway: timedelta, strict: bool = True) -> datetime | None:
    """OB 3.0 'Verify a Credential VC-JWT Signature' claim mapping. ``strict`` (the OpenBadgeCredential):
    iss, jti, nbf required, sub required when the subject has an id, exp when there is a validUntil.
    Not strict (the status list, a plain VC): only the claims present are compared. Returns the
    effective validUntil (validUntil, else the date of exp)."""
    legacy = credential is not payload
    valid_from_name = "issuanceDate" if legacy else "validFrom"
    valid_until_name = "expirationDate" if legacy else "validUntil"

    def compare(claim: str, value, target, target_name: str, required: bool) -> None:
        if claim not in payload and not (strict and required):
            return
        same = claim in payload and value == target and target is not None
        verb = "equals" if same else "must equal"
        shown = "missing" if claim not in payload else repr(value)
        vf._add(prefix + "claim_" + claim, same, f"{claim} {shown} {verb} {target_name} {target!r}")

    compare("iss", payload.get("iss"), _issuer_id(credential), "issuer.id", True)
    compare("jti", payload.get("jti"), credential.get("id"), "id", True)

    subject = credential.get("credentialSubject")
    subject_id = subject.get("id") if isinstance(subject, dict) else None
    if subject_id is not None:
        compare("sub", payload.get("sub"), subject_id, "credentialSubject.id", True)
    elif "sub" in payload:
        vf._add(prefix + "claim_sub", False, f"sub {payload['sub']!r} present but credentialSubject has no id to match")
    elif strict:
        vf._add(prefix + "claim_sub", True, "no credentialSubject.id and no sub")

    if "nbf" in payload or strict:
        try:
            if "nbf" not in payload:
                raise _Fail("nbf is missing (required)")
            nbf = _numeric_date(payload["nbf"])
            if credential.get(valid_from_name) is None and not strict:
                vf._add(prefix + "claim_nbf", True, f"nbf {nbf:g}; the credential has no {valid_from_name}")
            else:
                valid_from = parse_datetime(credential.get(valid_from_name))
                same = abs(nbf - valid_from.timestamp()) < 1e-6
                vf._add(prefix + "claim_nbf", same,
                        f"nbf {nbf:g} ({_iso(datetime.fromtimestamp(nbf, UTC))}) "
                        f"{'equals' if same else 'must equal'} {valid_from_name} {credential.get(valid_from_name)!r}")
        except _Fail as exc:
            vf._add(prefix + "claim_nbf", False, str(exc))

    effective_until = None
    try:
        until_value = credential.get(valid_until_name)
        valid_until = parse_datetime(until_value) if until_value is not None else None
        effective_until = valid_until
        if "exp" in payload:
            exp = _numeric_date(payload["exp"])
            if valid_until is None:
                effective_until = datetime.fromtimestamp(exp, UTC)
                vf._add(prefix + "claim_exp", True, f"exp {exp:g} sets {valid_until_name} (the credential has none)")
            else:
                same = abs(exp - valid_until.timestamp()) < 1e-6
                vf._add(prefix + "claim_exp", same,
                        f"exp {exp:g} {'equals' if same else 'must equal'} {valid_until_name} {until_value!r}")
        elif valid_until is not None and strict:
            vf._add(prefix + "claim_exp", False,
                    f"exp is missing but the credential has {valid_until_name} {until_value!r}")
        elif strict:
            vf._add(prefix + "claim_exp", True, f"no exp and no {valid_until_name}")
    except _Fail as exc:
        vf._add(prefix + "claim_exp", False, str(exc))

    if "iat" in payload:
        try:
            iat = _numeric_date(payload["iat"])
            future = datetime.fromtimestamp(iat, UTC) > now + leeway
            vf._add(prefix + "claim_iat", not future,
                    f"iat {iat:g} is in the future" if future else f"iat {iat:g} is not in the future")
        except _Fail as exc:
            vf._add(prefix + "claim_iat", False, str(exc))
    elif strict:
        vf._add(prefix + "claim_iat", True, "no iat (optional)")
    return effective_until


# --------------------------------------------------------------------------------------------------
# Step 4: shape
# --------------------------------------------------------------------------------------------------


def _email_paths(value, path: str = "$") -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and _EMAIL.search(key):
                yield f"{path}.{key}", key
            yield from _email_paths(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _email_paths(item, f"{path}[{index}]")
    elif isinstance(value, str):
        found = _EMAIL.search(value)
        if found:
            yield path, found.group(0)


def _shape(vf: Verification, credential: dict, payload: dict, *, allow_profile_email: bool) -> None:
    context = credential.get("@context")
    if not isinstance(context, list) or not context:
        vf._add("context", False, "@context must be a non-empty array")
    else:
        first_ok = context[0] == VC_V2_CONTEXT
        second_ok = len(context) > 1 and context[1] == OB_V3_CONTEXT
        all_ok = all(isinstance(c, str | dict) for c in context)
        vf._add("context", first_ok and second_ok and all_ok,
                f"@context {context!r}: must start with {VC_V2_CONTEXT} then {OB_V3_CONTEXT}")

    needed = {"VerifiableCredential", "OpenBadgeCredential"}
    vf._add("type", isinstance(credential.get("type"), list) and needed <= set(credential["type"]),
            f"type {credential.get('type')!r} must be an array containing {sorted(needed)}")

    vf._add("credential_id", _is_uri(credential.get("id")), f"id {credential.get('id')!r} must be a URI")

    issuer = credential.get("issuer")
    if not isinstance(issuer, dict):
        vf._add("issuer_profile", False, f"issuer {issuer!r} must be a Profile object")
    else:
        problems = []
        if not _is_uri(issuer.get("id")):
            problems.append("id must be a URI")
        if not isinstance(issuer.get("type"), list) or "Profile" not in issuer["type"]:
            problems.append(f"type {issuer.get('type')!r} must be an array containing 'Profile'")
        if not _text(issuer.get("name")):
            problems.append("name is required")
        vf._add("issuer_profile", not problems,
                "; ".join(problems) or f"Profile {issuer.get('id')} named {issuer.get('name')!r}")

    valid_from = None
    try:
        valid_from = parse_datetime(credential.get("validFrom"))
        vf._add("valid_from", True, f"validFrom {credential.get('validFrom')}")
    except _Fail as exc:
        vf._add("valid_from", False, f"validFrom: {exc}")
    if "validUntil" in credential:
        try:
            valid_until = parse_datetime(credential["validUntil"])
            after = valid_from is None or valid_until > valid_from
            vf._add("valid_until", after,
                    f"validUntil {credential['validUntil']}" + ("" if after else " is not after validFrom"))
        except _Fail as exc:
            vf._add("valid_until", False, f"validUntil: {exc}")

    subject = credential.get("credentialSubject")
    if not isinstance(subject, dict):
        vf._add("credential_subject", False, "credentialSubject must be one AchievementSubject object")
        subject = {}
    else:
        problems = []
        if not isinstance(subject.get("type"), list) or "AchievementSubject" not in subject["type"]:
            problems.append(f"type {subject.get('type')!r} must be an array containing 'AchievementSubject'")
        if "id" not in subject and not subject.get("identifier"):
            problems.append("the subject must be identified by id and/or identifier")
        if "id" in subject and not _is_uri(subject["id"]):
            problems.append(f"id {subject['id']!r} must be a URI")
        vf._add("credential_subject", not problems, "; ".join(problems) or "an AchievementSubject")

    achievement = subject.get("achievement")
    if not isinstance(achievement, dict):
        vf._add("achievement", False, "credentialSubject.achievement must be an Achievement object")
    else:
        problems = []
        if not _is_uri(achievement.get("id")):
            problems.append("id must be a URI")
        if not isinstance(achievement.get("type"), list) or "Achievement" not in achievement["type"]:
            problems.append(f"type {achievement.get('type')!r} must be an array containing 'Achievement'")
        for name in ("name", "description"):
            if not _text(achievement.get(name)):
                problems.append(f"{name} is required")
        criteria = achievement.get("criteria")
        if not isinstance(criteria, dict) or not (_text(criteria.get("narrative")) or _is_uri(criteria.get("id"))):
            problems.append("criteria must have a narrative or an id")
        vf._add("achievement", not problems, "; ".join(problems) or f"Achievement {achievement.get('name')!r}")

    identifiers = subject.get("identifier")
    if not isinstance(identifiers, list) or not identifiers:
        vf._add("identifier", False, "credentialSubject.identifier must be a non-empty list of IdentityObjects")
    else:
        problems = []
        for index, item in enumerate(identifiers):
            where = f"identifier[{index}]"
            if not isinstance(item, dict):
                problems.append(f"{where} is not an object")
                continue
            if item.get("type") != "IdentityObject":
                problems.append(f"{where}.type {item.get('type')!r} must be 'IdentityObject'")
            if item.get("hashed") is not True:
                problems.append(f"{where}.hashed must be true")
            if not isinstance(item.get("identityHash"), str) or not _SHA256_HASH.match(item["identityHash"]):
                problems.append(f"{where}.identityHash must be 'sha256$' and 64 hex digits")
            if item.get("identityType") != "emailAddress":
                problems.append(f"{where}.identityType {item.get('identityType')!r} must be 'emailAddress'")
            if not _text(item.get("salt")):
                problems.append(f"{where}.salt is required")
        vf._add("identifier", not problems,
                "; ".join(problems) or f"{len(identifiers)} hashed emailAddress identifier(s)")

    images = []
    for where, owner in (("$", credential), ("$.issuer", issuer), ("$.credentialSubject", subject),
                         ("$.credentialSubject.achievement", achievement)):
        if isinstance(owner, dict) and "image" in owner:
            image = owner["image"]
            if not isinstance(image, dict) or not _is_uri(image.get("id")) or image.get("type") != "Image":
                images.append(f"{where}.image must be an object with an id (URI) and type 'Image', not {image!r:.80}")
    if images or any(isinstance(o, dict) and "image" in o for o in (credential, issuer, subject, achievement)):
        vf._add("images", not images, "; ".join(images) or "images are Image objects")

    allowed = {"$.issuer.email", "$.credentialSubject.achievement.creator.email"} if allow_profile_email else set()
    found = [(path, text) for path, text in _email_paths(payload) if path not in allowed]
    vf._add("no_plain_email", not found,
            "no email address in the credential" if not found
            else "plain email address(es) in the credential: " + ", ".join(f"{p} = {t!r}" for p, t in found[:5]))


def _find_schema() -> Path | None:
    here = Path(__file__).resolve().parent
    candidates = []
    if os.environ.get("OB3_SCHEMA_DIR"):
        candidates.append(Path(os.environ["OB3_SCHEMA_DIR"]))
    candidates += [here / "schemas"]
    for directory in candidates:
        if (directory / SCHEMA_FILE_NAME).is_file():
            return directory / SCHEMA_FILE_NAME
    return None


def _json_schema(vf: Verification, credential: dict, schema: str) -> None:
    path = _find_schema() if schema != "off" else None
    if path is None:
        if schema == "required":
            vf._add("json_schema", False,
                    f"no {SCHEMA_FILE_NAME} found (OB3_SCHEMA_DIR, tests/badges/schemas)")
        elif schema != "off":
            vf.notes.append(f"note: json_schema not checked, no {SCHEMA_FILE_NAME} found")
        return
    import jsonschema

    document = json.loads(path.read_text())
    validator_class = jsonschema.validators.validator_for(document)
    errors = sorted(validator_class(document, format_checker=validator_class.FORMAT_CHECKER).iter_errors(credential),
                    key=lambda e: list(e.absolute_path))
    vf._add("json_schema", not errors,
            f"conforms to {path.name}" if not errors
            else "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message[:200]}" for e in errors[:5]))


# --------------------------------------------------------------------------------------------------
# Step 6: status
# --------------------------------------------------------------------------------------------------


def decode_encoded_list(encoded: str) -> bytes:
    """Bitstring Status List ``encodedList``: multibase base64url ('u', no padding) of GZIP data."""
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise _Fail("encodedList must be multibase base64url: a string starting with 'u'")
    compressed = b64url_decode(encoded[1:])
    if not compressed.startswith(b"\x1f\x8b"):
        raise _Fail("encodedList does not hold GZIP data (RFC 1952)")
    try:
        return gzip.decompress(compressed)
    except (OSError, EOFError, zlib.error) as exc:
        raise _Fail(f"encodedList does not decompress: {exc}") from exc


def bit_at(bitstring: bytes, index: int, size: int = 1) -> int:
    """The status value at ``index``: index 0 is the left-most (most significant) bit of the first byte."""
    value = 0
    for position in range(index * size, index * size + size):
        byte = bitstring[position // 8]
        value = (value << 1) | ((byte >> (7 - position % 8)) & 1)
    return value


def _bitstring_status(vf: Verification, entry: dict, credential: dict, *, get: Getter, now: datetime,
                      leeway: timedelta) -> str | None:
    """Returns 'Revoked'/'Suspended' when the bit is set, None otherwise (failures are recorded)."""
    try:
        purpose = entry.get("statusPurpose")
        if not _text(purpose):
            raise _Fail("statusPurpose must be a string")
        index_text = entry.get("statusListIndex")
        if not isinstance(index_text, str) or not index_text.isdigit():
            raise _Fail(f"statusListIndex {index_text!r} must be a base-10 integer written as a string")
        index = int(index_text)
        url = entry.get("statusListCredential")
        if not _is_http_url(url):
            raise _Fail(f"statusListCredential {url!r} must be an HTTP(S) URL")
        if not _is_uri(entry.get("id")):
            raise _Fail("the entry needs an id (a URI; 1EdTech's JSON Schema requires credentialStatus.id)")
        if entry["id"] == url:
            raise _Fail("the entry's id MUST NOT be the URL of the status list")
        size = entry.get("statusSize", 1)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise _Fail(f"statusSize {size!r} must be an integer greater than zero")
        if size > 1 and not isinstance(entry.get("statusMessage"), list):
            raise _Fail("statusSize > 1 needs statusMessage")
    except _Fail as exc:
        vf._add("status_entry", False, str(exc))
        return None
    vf._add("status_entry", True, f"BitstringStatusListEntry {purpose} #{index} in {url}")

    try:
        status, headers, body = _fetch(get, url)
        if status != 200:
            raise _Fail(f"GET {url} answered HTTP {status}")
        media = _media_type(headers)
        if media != VC_JWT_MEDIA_TYPE:
            raise _Fail(f"GET {url} answered Content-Type {media or 'none'}, not {VC_JWT_MEDIA_TYPE}")
        token = body.decode("ascii").strip()
    except (_Fail, UnicodeDecodeError) as exc:
        vf._add("status_list.fetch", False, str(exc))
        return None
    vf._add("status_list.fetch", True, f"{VC_JWT_MEDIA_TYPE} from {url}")

    verified = _verify_jws(vf, token, get=get, prefix="status_list.", allowed_typ=STATUS_LIST_TYP)
    if verified is None:
        return None
    _header, list_payload = verified
    try:
        list_credential, _layout = _credential_from_payload(list_payload)
    except _Fail as exc:
        vf._add("status_list.payload", False, str(exc))
        return None
    _check_claims(vf, list_payload, list_credential, prefix="status_list.", now=now, leeway=leeway, strict=False)

    list_issuer, issuer = _issuer_id(list_credential), _issuer_id(credential)
    vf._add("status_list.issuer", list_issuer == issuer,
            f"status list issuer {list_issuer!r} {'is' if list_issuer == issuer else 'must be'} "
            f"the credential's issuer {issuer!r}")

    try:
        problems = []
        if _types(list_credential.get("@context"))[:1] != [VC_V2_CONTEXT]:
            problems.append(f"@context must start with {VC_V2_CONTEXT}")
        if "BitstringStatusListCredential" not in _types(list_credential.get("type")):
            problems.append("type must contain BitstringStatusListCredential")
        if list_credential.get("id") is not None and list_credential.get("id") != url:
            problems.append(f"id {list_credential.get('id')!r} differs from statusListCredential {url!r}")
        subject = list_credential.get("credentialSubject")
        if not isinstance(subject, dict):
            raise _Fail("credentialSubject must be a BitstringStatusList object")
        if "BitstringStatusList" not in _types(subject.get("type")):
            problems.append(f"credentialSubject.type {subject.get('type')!r} must be BitstringStatusList")
        if purpose not in _types(subject.get("statusPurpose")):
            problems.append(f"credentialSubject.statusPurpose {subject.get('statusPurpose')!r} "
                            f"does not include {purpose!r}")
        if problems:
            raise _Fail("; ".join(problems))
        vf._add("status_list.shape", True, "a BitstringStatusListCredential for " + purpose)
    except _Fail as exc:
        vf._add("status_list.shape", False, str(exc))
        return None

    try:
        if "validFrom" in list_credential and parse_datetime(list_credential["validFrom"]) > now + leeway:
            raise _Fail(f"the status list is not valid before {list_credential['validFrom']}")
        if "validUntil" in list_credential and parse_datetime(list_credential["validUntil"]) <= now - leeway:
            raise _Fail(f"the status list expired at {list_credential['validUntil']}")
        vf._add("status_list.validity", True, "the status list is within its validity period")
    except _Fail as exc:
        vf._add("status_list.validity", False, str(exc))
        return None

    try:
        bitstring = decode_encoded_list(subject.get("encodedList"))
        entries = len(bitstring) * 8 // size
        if entries < MIN_STATUS_ENTRIES:
            raise _Fail(f"the bitstring has {entries} entries; at least {MIN_STATUS_ENTRIES} (16KB) are required")
        if (index + 1) * size > len(bitstring) * 8:
            raise _Fail(f"statusListIndex {index} is outside the bitstring ({entries} entries)")
        value = bit_at(bitstring, index, size)
    except _Fail as exc:
        vf._add("status_list.bitstring", False, str(exc))
        return None
    vf._add("status_list.bitstring", True, f"{len(bitstring)} bytes, {entries} entries")

    outcome = {"revocation": "Revoked", "suspension": "Suspended"}.get(purpose)
    if value and outcome:
        vf._add("credential_status", False, f"{outcome}: {purpose} bit {index} of {url} is set")
        return outcome
    vf._add("credential_status", True, f"{purpose} bit {index} of {url} is {value}")
    return None


def _revocation_list_status(vf: Verification, entry: dict, credential: dict, *, get: Getter) -> str | None:
    url = entry.get("id")
    try:
        if not _is_http_url(url):
            raise _Fail(f"1EdTechRevocationList id {url!r} must be the HTTP(S) URL of the revocation list")
        status, headers, body = _fetch(get, url)
        if status != 200:
            raise _Fail(f"GET {url} answered HTTP {status}")
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise _Fail(f"GET {url} did not answer JSON: {exc}") from exc
        revoked = document.get("revokedCredential") if isinstance(document, dict) else None
        if revoked is None:
            revoked = []
        if not isinstance(revoked, list):
            revoked = [revoked]
    except _Fail as exc:
        vf._add("status_list.fetch", False, str(exc))
        return None
    vf._add("status_list.fetch", True, f"1EdTechRevocationList from {url} with {len(revoked)} entries")
    credential_id = credential.get("id")
    for item in revoked:
        if isinstance(item, dict) and item.get("id") == credential_id and item.get("revoked", True) is not False:
            reason = item.get("revocationReason")
            vf._add("credential_status", False,
                    f"Revoked: {credential_id} is listed in {url}" + (f" ({reason})" if reason else ""))
            return "Revoked"
    vf._add("credential_status", True, f"{credential_id} is not revoked in {url}")
    return None


def _status(vf: Verification, credential: dict, *, get: Getter, now: datetime, leeway: timedelta,
            require_status: bool) -> str | None:
    entries = credential.get("credentialStatus")
    if entries is None:
        why = " (this credential must be revocable)" if require_status else " (not revocable)"
        vf._add("credential_status", not require_status, "no credentialStatus" + why)
        return None
    outcome = None
    for entry in entries if isinstance(entries, list) else [entries]:
        kind = entry.get("type") if isinstance(entry, dict) else None
        if kind == "BitstringStatusListEntry":
            outcome = _bitstring_status(vf, entry, credential, get=get, now=now, leeway=leeway) or outcome
        elif kind == "1EdTechRevocationList":
            outcome = _revocation_list_status(vf, entry, credential, get=get) or outcome
        else:
            vf._add("credential_status", False, f"unsupported credentialStatus type {kind!r}")
    return outcome


# --------------------------------------------------------------------------------------------------
# The whole verification
# --------------------------------------------------------------------------------------------------


def verify_ob3(
    jwt_text: str,
    *,
    get: Getter,
    now: datetime | None = None,
    leeway_seconds: float = 0,
    require_status: bool = False,
    allow_profile_email: bool = False,
    schema: str = "auto",
) -> Verification:
    """Verify an OpenBadgeCredential in VC-JWT form as an outside verifier would.

    ``get(url) -> (status_code, headers, body_bytes)`` fetches the JWK at ``kid`` and the status list
    (:func:`requests_getter` makes one). ``now`` (aware datetime) fixes the clock; ``leeway_seconds``
    tolerates clock skew for validFrom/validUntil/iat. ``require_status``: a credential without
    ``credentialStatus`` fails. ``allow_profile_email``: permit the issuer Profile's own contact
    ``email`` (otherwise any email address in the credential fails). ``schema``: "auto" (1EdTech's JSON
    Schema if a copy is found), "required" or "off".

    Checks, by name, in order: ``jose_header``, ``public_key``, ``signature``, ``payload``,
    ``claim_iss``, ``claim_jti``, ``claim_sub``, ``claim_nbf``, ``claim_exp``, ``claim_iat``, ``context``,
    ``type``, ``credential_id``, ``issuer_profile``, ``valid_from``, ``valid_until`` (when present),
    ``credential_subject``, ``achievement``, ``identifier``, ``images`` (when there are any),
    ``no_plain_email``, ``json_schema`` (when a schema is found), ``not_before``, ``not_expired``, then
    for a BitstringStatusListEntry ``status_entry``, ``status_list.fetch``, ``status_list.jose_header``,
    ``status_list.public_key``, ``status_list.signature``, ``status_list.claim_*`` (those present),
    ``status_list.issuer``, ``status_list.shape``, ``status_list.validity``, ``status_list.bitstring``, and
    ``credential_status`` (its message starts with "Revoked:" when the bit is set; for a
    1EdTechRevocationList: ``status_list.fetch`` then ``credential_status``). A step that cannot run
    after an earlier failure is left out.
    """
    now = now or datetime.now(UTC)
    leeway = timedelta(seconds=leeway_seconds)
    vf = Verification()
    verified = _verify_jws(vf, jwt_text, get=get, prefix="", allowed_typ=CREDENTIAL_TYP)
    if verified is None:
        return vf
    vf.header, vf.payload = verified
    try:
        credential, layout = _credential_from_payload(vf.payload)
    except _Fail as exc:
        vf._add("payload", False, str(exc))
        return vf
    vf.credential = credential
    vf._add("payload", True, layout)

    effective_until = _check_claims(vf, vf.payload, credential, prefix="", now=now, leeway=leeway)
    _shape(vf, credential, vf.payload, allow_profile_email=allow_profile_email)
    _json_schema(vf, credential, schema)
    invalid = bool(vf.failures)

    not_yet = expired = False
    try:
        valid_from = parse_datetime(credential.get("validFrom", credential.get("issuanceDate")))
        not_yet = valid_from > now + leeway
        vf._add("not_before", not not_yet,
                f"Not yet valid: validFrom {_iso(valid_from)} is after now ({_iso(now)})" if not_yet
                else f"validFrom {_iso(valid_from)} has passed")
    except _Fail as exc:
        vf._add("not_before", False, str(exc))
        invalid = True
    if effective_until is not None:
        expired = effective_until <= now - leeway
        vf._add("not_expired", not expired,
                f"Expired: validUntil {_iso(effective_until)} is before now ({_iso(now)})" if expired
                else f"valid until {_iso(effective_until)}")
    else:
        vf._add("not_expired", True, "no validUntil")

    before_status = len(vf.failures)
    outcome = _status(vf, credential, get=get, now=now, leeway=leeway, require_status=require_status)
    status_broken = len(vf.failures) > before_status and outcome is None

    if invalid or status_broken:
        vf.status = "Invalid"
    elif outcome:
        vf.status = outcome
    elif expired:
        vf.status = "Expired"
    elif not_yet:
        vf.status = "NotYetValid"
    else:
        vf.status = "Verified" if vf.ok else "Invalid"
    return vf


# --------------------------------------------------------------------------------------------------
# Step 7: the recipient
# --------------------------------------------------------------------------------------------------


def identity_hash(identifier: str, salt: str = "", algorithm: str = "sha256") -> str:
    """OB IdentityHash: algorithm '$' hex digest of UTF-8(identifier) + UTF-8(salt)."""
    if algorithm not in ("sha256", "md5"):
        raise ValueError(f"IdentityHash supports sha256 and md5, not {algorithm!r}")
    return f"{algorithm}${hashlib.new(algorithm, identifier.encode('utf-8') + salt.encode('utf-8')).hexdigest()}"


def recipient_matches(credential: dict, email: str, identity_type: str = "emailAddress") -> bool:
    """Whether ``email`` (the known value, hashed exactly as given: the spec prescribes no lower-casing or
    trimming) matches an ``identifier`` of that type in the credential's subject (OB 3.0 "Verify the
    Recipient Using an Identifier"). A credential as decoded, or a :class:`Verification`, is accepted."""
    if isinstance(credential, Verification):
        credential = credential.credential or {}
    subject = credential.get("credentialSubject") if isinstance(credential, dict) else None
    identifiers = subject.get("identifier") if isinstance(subject, dict) else None
    for item in identifiers if isinstance(identifiers, list) else [identifiers]:
        if not isinstance(item, dict) or item.get("identityType") != identity_type:
            continue
        stored = item.get("identityHash")
        if not isinstance(stored, str):
            continue
        if item.get("hashed") is True:
            algorithm, _, digest = stored.partition("$")
            if algorithm not in ("sha256", "md5") or not digest:
                continue
            if identity_hash(email, item.get("salt") or "", algorithm).split("$", 1)[1] == digest.lower():
                return True
        elif item.get("hashed") is False and stored == email:
            return True
    return False


# --------------------------------------------------------------------------------------------------
# A second, independent implementation of steps 1-3 (jwcrypto), so two libraries agree
# --------------------------------------------------------------------------------------------------


def verify_ob3_second_opinion(jwt_text: str, *, get: Getter) -> bool:
    """Steps 1-3 again with jwcrypto and ``datetime.fromisoformat``: header rules, key from ``kid``/``jwk``,
    RS256 signature, and the iss/jti/sub/nbf/exp mapping. True only if all hold."""
    from jwcrypto import jwk as jose_jwk
    from jwcrypto import jws as jose_jws
    from jwcrypto.common import json_decode

    try:
        token = jose_jws.JWS()
        token.deserialize(jwt_text.strip())
        header = token.jose_header
        if header.get("alg") != "RS256" or not set(header) <= HEADER_MEMBERS:
            return False
        if header.get("typ", "JWT") != "JWT" or ("kid" in header) == ("jwk" in header):
            return False
        if "kid" in header:
            status, _headers, body = get(header["kid"])
            if status != 200:
                return False
            key = jose_jwk.JWK.from_json(body)
        else:
            key = jose_jwk.JWK(**header["jwk"])
        if key.has_private or key.get("kty") != "RSA":
            return False
        token.verify(key, alg="RS256")
        payload = json_decode(token.payload)
        credential = payload
        if "vc" in payload:
            credential = payload["vc"]
            if "@context" in payload or credential.get("@context", [None])[0] != VC_V1_CONTEXT:
                return False
        issuer = credential.get("issuer")
        issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
        if payload.get("iss") is None or payload.get("iss") != issuer_id:
            return False
        if payload.get("jti") is None or payload.get("jti") != credential.get("id"):
            return False
        subject_id = (credential.get("credentialSubject") or {}).get("id")
        if payload.get("sub") != subject_id:
            return False
        start = credential.get("validFrom" if credential is payload else "issuanceDate")
        if not isinstance(payload.get("nbf"), int | float) or isinstance(payload.get("nbf"), bool):
            return False
        start_at = datetime.fromisoformat(start)
        if start_at.tzinfo is None or abs(start_at.timestamp() - payload["nbf"]) > 1e-6:
            return False
        end = credential.get("validUntil" if credential is payload else "expirationDate")
        if end is not None:
            end_at = datetime.fromisoformat(end)
            if end_at.tzinfo is None or "exp" not in payload or abs(end_at.timestamp() - payload["exp"]) > 1e-6:
                return False
        return True
    except Exception:  # noqa: BLE001 - any failure means "not verified"
        return False
