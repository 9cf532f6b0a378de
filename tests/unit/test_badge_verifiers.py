"""The verifiers the badge tests rely on, checked on credentials made here (nothing from lti_tool).

OB 3.0: credentials signed with a fresh RSA key; the JWK and the status lists are served by a fake ``get``.
OB 2.0: 1EdTech's validator, run offline in its own virtualenv, against a hand-made hosted badge served
from a small HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import hmac
import json
import struct
import threading
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.badges.ob2_validator import assert_valid_ob2, ensure_ob2_python, problems, validate_ob2
from tests.badges.ob3_verifier import (
    bit_at,
    decode_encoded_list,
    identity_hash,
    recipient_matches,
    verify_ob3,
    verify_ob3_second_opinion,
)

ISSUER = "https://badges.example.edu/issuer"
KID = "https://badges.example.edu/keys/key-1.json"
STATUS_URL = "https://badges.example.edu/status/1"
CREDENTIAL_ID = "urn:uuid:1b0f7d6e-2a43-4c64-9f35-5a3b1c0d9e11"
EMAIL = "jo.teacher@example.org"
SALT = "d2f6c1a0b9e84d7f"
NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
STATUS_INDEX = 94567


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def public_jwk(private_key) -> dict:
    numbers = private_key.public_key().public_numbers()
    return {"kty": "RSA", "n": uint(numbers.n), "e": uint(numbers.e), "alg": "RS256", "use": "sig"}


def sign(header: dict, payload: dict, private_key) -> str:
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}"
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def credential(**changes) -> dict:
    valid_from = NOW - timedelta(days=1)
    body = {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        ],
        "id": CREDENTIAL_ID,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": "Providing Feedback to Promote Learning",
        "issuer": {"id": ISSUER, "type": ["Profile"], "name": "Example Micro-Credentials", "url": "https://example.edu"},
        "validFrom": iso(valid_from),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [{
                "type": "IdentityObject",
                "identityHash": identity_hash(EMAIL, SALT),
                "identityType": "emailAddress",
                "hashed": True,
                "salt": SALT,
            }],
            "achievement": {
                "id": "https://badges.example.edu/achievements/feedback",
                "type": ["Achievement"],
                "name": "Providing Feedback to Promote Learning",
                "description": "Gives specific, timely feedback that moves learning forward.",
                "criteria": {"narrative": "Every rubric criterion at Demonstrated."},
            },
        },
        "credentialStatus": {
            "id": f"{STATUS_URL}#{STATUS_INDEX}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(STATUS_INDEX),
            "statusListCredential": STATUS_URL,
        },
    }
    body.update(changes)
    return body


def claims_for(body: dict) -> dict:
    claims = {"iss": body["issuer"]["id"], "jti": body["id"],
              "nbf": int(datetime.fromisoformat(body["validFrom"]).timestamp())}
    if "validUntil" in body:
        claims["exp"] = int(datetime.fromisoformat(body["validUntil"]).timestamp())
    if "id" in body["credentialSubject"]:
        claims["sub"] = body["credentialSubject"]["id"]
    return {**body, **claims}


def encoded_list(set_bits=(), size_bytes=16 * 1024) -> str:
    bits = bytearray(size_bytes)
    for index in set_bits:
        bits[index // 8] |= 0x80 >> (index % 8)
    return "u" + b64url(gzip.compress(bytes(bits)))


def status_list_jwt(private_key, set_bits=(), *, size_bytes=16 * 1024, issuer=ISSUER, purpose="revocation") -> str:
    body = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": STATUS_URL,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": {"id": issuer, "type": ["Profile"], "name": "Example Micro-Credentials"},
        "validFrom": iso(NOW - timedelta(days=30)),
        "credentialSubject": {
            "id": f"{STATUS_URL}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encoded_list(set_bits, size_bytes),
        },
    }
    nbf = int(datetime.fromisoformat(body["validFrom"]).timestamp())
    payload = {**body, "iss": issuer, "jti": STATUS_URL, "nbf": nbf}
    return sign({"alg": "RS256", "typ": "vc+jwt", "kid": KID}, payload, private_key)


class FakeWeb:
    """``get`` over a dict of URL -> (status, headers, body); anything else is a 404."""

    def __init__(self, private_key, revoked=()):
        self.pages = {
            KID: (200, {"Content-Type": "application/jwk+json"}, json.dumps(public_jwk(private_key)).encode()),
            STATUS_URL: (200, {"Content-Type": "application/vc+jwt"}, status_list_jwt(private_key, revoked).encode()),
        }
        self.fetched = []

    def __call__(self, url):
        self.fetched.append(url)
        return self.pages.get(url, (404, {"Content-Type": "text/plain"}, b"not found"))


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def web(key):
    return FakeWeb(key)


def good_jwt(key, body=None, header=None) -> str:
    body = body or credential()
    return sign(header or {"alg": "RS256", "typ": "JWT", "kid": KID}, claims_for(body), key)


def names_failed(result) -> list[str]:
    return [c.name for c in result.failures]


# --- OB 3.0: the good case ------------------------------------------------------------------------


def test_a_good_credential_passes_every_check(key, web):
    token = good_jwt(key)
    result = verify_ob3(token, get=web, now=NOW, require_status=True)
    assert result.ok, result.summary()
    assert result.status == "Verified"
    for name in ("jose_header", "public_key", "signature", "payload", "claim_iss", "claim_jti", "claim_nbf",
                 "claim_exp", "context", "type", "issuer_profile", "valid_from", "credential_subject", "achievement",
                 "identifier", "no_plain_email", "not_before", "not_expired", "status_list.signature",
                 "status_list.shape", "status_list.bitstring", "credential_status"):
        assert result[name].passed, result.summary()
    assert web.fetched.count(KID) == 2  # the credential's key and the status list's
    assert result.credential["id"] == CREDENTIAL_ID
    assert verify_ob3_second_opinion(token, get=web)


def test_a_credential_whose_subject_has_an_id_needs_a_matching_sub(key, web):
    body = credential()
    body["credentialSubject"]["id"] = "did:example:learner-42"
    assert verify_ob3(good_jwt(key, body), get=web, now=NOW).ok
    payload = {**claims_for(body), "sub": "did:example:someone-else"}
    token = sign({"alg": "RS256", "kid": KID}, payload, key)
    result = verify_ob3(token, get=web, now=NOW)
    assert names_failed(result) == ["claim_sub"]
    assert not verify_ob3_second_opinion(token, get=web)


def test_recipient_matches_the_hashed_email_only(key, web):
    result = verify_ob3(good_jwt(key), get=web, now=NOW)
    assert recipient_matches(result.credential, EMAIL)
    assert recipient_matches(result, EMAIL)
    assert not recipient_matches(result.credential, "someone.else@example.org")
    assert not recipient_matches(result.credential, EMAIL.upper())  # the spec hashes the known value as given
    # The spec's own IdentityHash example: sha256 of 'a@example.com' salted with 'Kosher'.
    assert identity_hash("a@example.com", "Kosher") == (
        "sha256$b5809d8a92f8858436d7e6b87c12ebc0ae1eac4baecc2c0b913aee2c922ef399")


# --- OB 3.0: signature, header and key ------------------------------------------------------------


def test_a_tampered_payload_fails_the_signature(key, web):
    header, payload, signature = good_jwt(key).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["credentialSubject"]["achievement"]["name"] = "Something Never Earned"
    token = f"{header}.{b64url_json(claims)}.{signature}"
    result = verify_ob3(token, get=web, now=NOW)
    assert not result.ok and result.status == "Invalid"
    assert not result["signature"].passed
    assert result.get("payload") is None  # nothing after the signature is trusted
    assert not verify_ob3_second_opinion(token, get=web)


def test_alg_none_is_refused(key, web):
    claims = claims_for(credential())
    token = f"{b64url_json({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{b64url_json(claims)}."
    result = verify_ob3(token, get=web, now=NOW)
    assert names_failed(result) == ["jose_header"]
    assert "unsigned" in result["jose_header"].message
    assert not verify_ob3_second_opinion(token, get=web)


def test_hs256_is_refused_even_with_the_public_key_as_secret(key, web):
    header = {"alg": "HS256", "typ": "JWT", "kid": KID}
    signing_input = f"{b64url_json(header)}.{b64url_json(claims_for(credential()))}"
    secret = json.dumps(public_jwk(key)).encode()
    token = f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"
    result = verify_ob3(token, get=web, now=NOW)
    assert names_failed(result) == ["jose_header"]
    assert "HS256" in result["jose_header"].message
    assert not verify_ob3_second_opinion(token, get=web)


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ({"alg": "RS256", "typ": "vc+jwt", "kid": KID}, "typ"),
        ({"alg": "RS256", "kid": KID, "cty": "vc"}, "not allowed"),
        ({"alg": "RS256", "typ": "JWT"}, "exactly one"),
        ({"alg": "RS256", "kid": "key-1"}, "absolute URI"),
    ],
)
def test_jose_header_rules(key, web, header, why):
    token = good_jwt(key, header=header)
    result = verify_ob3(token, get=web, now=NOW)
    assert names_failed(result) == ["jose_header"], result.summary()
    assert why in result["jose_header"].message
    assert not verify_ob3_second_opinion(token, get=web)


def test_a_kid_that_does_not_resolve_fails(key, web):
    token = good_jwt(key, header={"alg": "RS256", "kid": "https://badges.example.edu/keys/missing.json"})
    result = verify_ob3(token, get=web, now=NOW)
    assert names_failed(result) == ["public_key"]
    assert "HTTP 404" in result["public_key"].message
    assert not verify_ob3_second_opinion(token, get=web)


def test_a_kid_that_raises_fails_cleanly(key):
    def unreachable(url):
        raise ConnectionError("connection refused")

    result = verify_ob3(good_jwt(key), get=unreachable, now=NOW)
    assert names_failed(result) == ["public_key"]
    assert "connection refused" in result["public_key"].message


@pytest.mark.parametrize(
    ("document", "why"),
    [
        ({"keys": ["..."]}, "JWK Set"),
        ("private", "MUST never contain 'd'"),
        ("other-key", "does not verify"),
    ],
)
def test_the_key_at_kid_must_be_the_right_public_jwk(key, web, document, why):
    if document == "private":
        numbers = key.private_numbers()
        document = {**public_jwk(key), "d": uint(numbers.d)}
    elif document == "other-key":
        document = public_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    web.pages[KID] = (200, {"Content-Type": "application/jwk+json"}, json.dumps(document).encode())
    result = verify_ob3(good_jwt(key), get=web, now=NOW)
    assert not result.ok
    assert why in " ".join(c.message for c in result.failures), result.summary()


def test_a_key_embedded_as_jwk_is_accepted(key, web):
    token = good_jwt(key, header={"alg": "RS256", "typ": "JWT", "jwk": public_jwk(key)})
    result = verify_ob3(token, get=web, now=NOW)
    assert result.ok, result.summary()
    assert "embedded" in result["public_key"].message
    assert verify_ob3_second_opinion(token, get=web)


# --- OB 3.0: claims --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("iss", "https://impostor.example.com/issuer"),
        ("jti", "urn:uuid:00000000-0000-4000-8000-000000000000"),
        ("nbf", int((NOW - timedelta(days=2)).timestamp())),
        ("exp", int((NOW + timedelta(days=400)).timestamp())),
    ],
)
def test_a_wrong_claim_fails(key, web, claim, value):
    body = credential(validUntil=iso(NOW + timedelta(days=365)))
    payload = {**claims_for(body), claim: value}
    token = sign({"alg": "RS256", "typ": "JWT", "kid": KID}, payload, key)
    result = verify_ob3(token, get=web, now=NOW)
    assert names_failed(result) == [f"claim_{claim}"], result.summary()
    assert not verify_ob3_second_opinion(token, get=web)


@pytest.mark.parametrize("claim", ["iss", "jti", "nbf"])
def test_a_missing_required_claim_fails(key, web, claim):
    payload = claims_for(credential())
    del payload[claim]
    token = sign({"alg": "RS256", "kid": KID}, payload, key)
    assert names_failed(verify_ob3(token, get=web, now=NOW)) == [f"claim_{claim}"]
    assert not verify_ob3_second_opinion(token, get=web)


def test_the_vc_claim_is_only_for_vc_data_model_1_1(key, web):
    token = sign({"alg": "RS256", "kid": KID}, {"iss": ISSUER, "jti": CREDENTIAL_ID, "vc": credential()}, key)
    result = verify_ob3(token, get=web, now=NOW)
    assert names_failed(result) == ["payload"]
    assert "payload itself" in result["payload"].message


# --- OB 3.0: shape ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (lambda c: c.update({"@context": ["https://www.w3.org/2018/credentials/v1"]}), "context"),
        (lambda c: c.update({"type": ["VerifiableCredential"]}), "type"),
        (lambda c: c["issuer"].pop("name"), "issuer_profile"),
        (lambda c: c["credentialSubject"]["achievement"].pop("criteria"), "achievement"),
        (lambda c: c["credentialSubject"]["identifier"][0].update({"hashed": False}), "identifier"),
        (lambda c: c["credentialSubject"]["identifier"][0].update({"identityType": "email"}), "identifier"),
        (lambda c: c["credentialSubject"].pop("identifier"), "identifier"),
        (lambda c: c["credentialSubject"].update({"type": "AchievementSubject"}), "credential_subject"),
        (lambda c: c["issuer"].update({"type": "Profile"}), "issuer_profile"),
        (lambda c: c["credentialSubject"]["achievement"].update({"image": "https://example.edu/b.png"}), "images"),
        (lambda c: c["credentialStatus"].pop("id"), "status_entry"),
    ],
)
def test_shape_rules(key, web, change, check):
    body = credential()
    change(body)
    result = verify_ob3(good_jwt(key, body), get=web, now=NOW)
    assert check in names_failed(result), result.summary()


def test_images_as_image_objects_pass(key, web):
    body = credential()
    body["credentialSubject"]["achievement"]["image"] = {"id": "https://example.edu/b.png", "type": "Image"}
    result = verify_ob3(good_jwt(key, body), get=web, now=NOW)
    assert result.ok and result["images"].passed, result.summary()


def test_validfrom_must_be_an_rfc3339_date_time(key, web):
    body = credential()
    payload = {**claims_for(body), "validFrom": "1 June 2026"}
    result = verify_ob3(sign({"alg": "RS256", "kid": KID}, payload, key), get=web, now=NOW)
    assert {"valid_from", "claim_nbf"} <= set(names_failed(result))


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["credentialSubject"].update({"name": f"Jo <{EMAIL}>"}),
        lambda c: c["credentialSubject"]["identifier"].append(
            {"type": "IdentityObject", "identityHash": EMAIL, "identityType": "emailAddress", "hashed": False}),
        lambda c: c["issuer"].update({"email": "badges@example.edu"}),
    ],
)
def test_a_plain_email_anywhere_fails(key, web, change):
    body = credential()
    change(body)
    result = verify_ob3(good_jwt(key, body), get=web, now=NOW)
    assert "no_plain_email" in names_failed(result), result.summary()


def test_the_issuers_contact_email_can_be_allowed(key, web):
    body = credential()
    body["issuer"]["email"] = "badges@example.edu"
    assert verify_ob3(good_jwt(key, body), get=web, now=NOW, allow_profile_email=True).ok


# --- OB 3.0: validity period -----------------------------------------------------------------------


def test_an_expired_credential_is_expired(key, web):
    body = credential(validFrom=iso(NOW - timedelta(days=400)), validUntil=iso(NOW - timedelta(days=35)))
    token = good_jwt(key, body)
    result = verify_ob3(token, get=web, now=NOW)
    assert result.status == "Expired"
    assert names_failed(result) == ["not_expired"]
    assert result["not_expired"].message.startswith("Expired")
    assert verify_ob3_second_opinion(token, get=web)  # the signature and claims are still right


def test_a_credential_from_the_future_is_not_yet_valid(key, web):
    body = credential(validFrom=iso(NOW + timedelta(days=3)))
    result = verify_ob3(good_jwt(key, body), get=web, now=NOW)
    assert result.status == "NotYetValid"
    assert names_failed(result) == ["not_before"]


# --- OB 3.0: status --------------------------------------------------------------------------------


def test_bit_order_is_left_most_first():
    assert bit_at(b"\x80\x00", 0) == 1 and bit_at(b"\x80\x00", 7) == 0
    assert bit_at(b"\x00\x01", 15) == 1 and bit_at(b"\x00\x01", 8) == 0
    assert decode_encoded_list(encoded_list({3}, 2)) == b"\x10\x00"


def test_a_set_bit_revokes(key):
    web = FakeWeb(key, revoked={STATUS_INDEX})
    result = verify_ob3(good_jwt(key), get=web, now=NOW)
    assert result.status == "Revoked"
    assert names_failed(result) == ["credential_status"]
    assert result["credential_status"].message.startswith("Revoked")


def test_the_neighbouring_bits_do_not_revoke(key):
    web = FakeWeb(key, revoked={STATUS_INDEX - 1, STATUS_INDEX + 1, 0})
    result = verify_ob3(good_jwt(key), get=web, now=NOW)
    assert result.ok and result.status == "Verified", result.summary()


def test_a_short_status_list_fails(key, web):
    web.pages[STATUS_URL] = (200, {"Content-Type": "application/vc+jwt"},
                             status_list_jwt(key, size_bytes=1024).encode())
    result = verify_ob3(good_jwt(key, credential()), get=web, now=NOW)
    assert result.status == "Invalid"
    assert names_failed(result) == ["status_list.bitstring"]


def test_the_status_list_must_be_a_vc_jwt(key, web):
    status, _headers, body = web.pages[STATUS_URL]
    web.pages[STATUS_URL] = (status, {"Content-Type": "application/json"}, body)
    assert names_failed(verify_ob3(good_jwt(key), get=web, now=NOW)) == ["status_list.fetch"]


def test_a_status_list_from_someone_else_fails(key, web):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    web.pages[STATUS_URL] = (200, {"Content-Type": "application/vc+jwt"}, status_list_jwt(other).encode())
    assert names_failed(verify_ob3(good_jwt(key), get=web, now=NOW)) == ["status_list.signature"]
    web.pages[STATUS_URL] = (200, {"Content-Type": "application/vc+jwt"},
                             status_list_jwt(key, issuer="https://elsewhere.example.com/issuer").encode())
    assert names_failed(verify_ob3(good_jwt(key), get=web, now=NOW)) == ["status_list.issuer"]


def test_a_status_list_for_another_purpose_fails(key, web):
    web.pages[STATUS_URL] = (200, {"Content-Type": "application/vc+jwt"},
                             status_list_jwt(key, purpose="suspension").encode())
    assert names_failed(verify_ob3(good_jwt(key), get=web, now=NOW)) == ["status_list.shape"]


def test_no_status_fails_only_when_required(key, web):
    body = credential()
    del body["credentialStatus"]
    assert verify_ob3(good_jwt(key, body), get=web, now=NOW).ok
    assert names_failed(verify_ob3(good_jwt(key, body), get=web, now=NOW, require_status=True)) == [
        "credential_status"]


def test_the_1edtech_revocation_list_is_understood(key, web):
    list_url = "https://badges.example.edu/revocations"
    body = credential(credentialStatus={"id": list_url, "type": "1EdTechRevocationList"})
    web.pages[list_url] = (200, {"Content-Type": "application/json"},
                           json.dumps({"id": list_url, "issuer": ISSUER, "revokedCredential": []}).encode())
    assert verify_ob3(good_jwt(key, body), get=web, now=NOW).ok
    revoked = {"id": list_url, "issuer": ISSUER,
               "revokedCredential": [{"id": CREDENTIAL_ID, "revocationReason": "Awarded in error"}]}
    web.pages[list_url] = (200, {"Content-Type": "application/json"}, json.dumps(revoked).encode())
    result = verify_ob3(good_jwt(key, body), get=web, now=NOW)
    assert result.status == "Revoked"
    assert "Awarded in error" in result["credential_status"].message


def test_the_verifiers_do_not_mutate_their_input(key, web):
    body = credential()
    before = copy.deepcopy(body)
    verify_ob3(good_jwt(key, body), get=web, now=NOW)
    assert body == before


# --- OB 2.0: 1EdTech's validator, offline ----------------------------------------------------------


def png(extra_chunks=b"") -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + extra_chunks + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + (
        chunk(b"IEND", b""))


def baked_png(text: str) -> bytes:
    data = b"openbadges\x00\x00\x00\x00\x00" + text.encode()
    itxt = struct.pack(">I", len(data)) + b"iTXt" + data + struct.pack(">I", zlib.crc32(b"iTXt" + data) & 0xFFFFFFFF)
    return png(itxt)


class HostedBadge:
    """A hand-made OB 2.0 hosted badge (Assertion, BadgeClass, Issuer, image) on 127.0.0.1."""

    def __init__(self):
        self.documents = {}
        self.gone = set()
        self.server = make_server("127.0.0.1", 0, self.app)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.reset()

    def reset(self):
        self.gone.clear()
        base = self.base
        self.documents = {
            "/assertions/1": {
                "@context": "https://w3id.org/openbadges/v2", "type": "Assertion", "id": f"{base}/assertions/1",
                "recipient": {"type": "email", "hashed": True, "salt": SALT, "identity": identity_hash(EMAIL, SALT)},
                "badge": f"{base}/badges/feedback", "verification": {"type": "HostedBadge"},
                "issuedOn": "2026-05-01T10:00:00+00:00",
            },
            "/badges/feedback": {
                "@context": "https://w3id.org/openbadges/v2", "type": "BadgeClass", "id": f"{base}/badges/feedback",
                "name": "Providing Feedback to Promote Learning", "description": "Specific, timely feedback.",
                "image": f"{base}/badges/feedback/image.png",
                "criteria": {"narrative": "Every criterion Demonstrated."},
                "issuer": f"{base}/issuer",
            },
            "/issuer": {
                "@context": "https://w3id.org/openbadges/v2", "type": "Issuer", "id": f"{base}/issuer",
                "name": "Example Micro-Credentials", "url": f"{base}/", "email": "badges@example.edu",
            },
        }

    @Request.application
    def app(self, request):
        if request.path == "/badges/feedback/image.png":
            return Response(png(), content_type="image/png")
        if request.path in self.gone:
            body = {"@context": "https://w3id.org/openbadges/v2", "id": self.base + request.path, "revoked": True,
                    "revocationReason": "Awarded in error"}
            return Response(json.dumps(body), status=410, content_type="application/ld+json")
        if request.path in self.documents:
            return Response(json.dumps(self.documents[request.path]), content_type="application/ld+json")
        return Response("not found", status=404, content_type="text/plain")

    def close(self):
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()


@pytest.fixture(scope="module")
def ob2_python():
    return ensure_ob2_python()  # builds .venv-ob2 on first use (tens of seconds), then reuses it


@pytest.fixture(scope="module")
def hosted(ob2_python):
    badge = HostedBadge()
    yield badge
    badge.close()


@pytest.fixture
def badge(hosted):
    hosted.reset()
    return hosted


def test_ob2_validator_passes_a_good_hosted_badge_offline(badge):
    # The contexts (https://w3id.org/openbadges/v2) come from files: this machine cannot reach w3id.org.
    result = assert_valid_ob2(f"{badge.base}/assertions/1", recipient_email=EMAIL, allow_warnings=False)
    assert result["report"]["openBadgesVersion"] == "2.0"
    assert result["report"]["recipientProfile"] == {"email": EMAIL}
    assert {n.get("type") for n in result["graph"]} >= {"Assertion", "BadgeClass", "Issuer"}
    assert {c["name"] for c in result["extra_checks"]} == {"hosted_revocation", "content_type", "image"}
    assert result["revoked"] is False


def test_ob2_validator_reads_baked_images(badge):
    url = f"{badge.base}/assertions/1"
    assert_valid_ob2(baked_png(url))
    assert_valid_ob2(baked_png(json.dumps(badge.documents["/assertions/1"])))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="http://openbadges.org" viewBox="0 0 8 8">'
           f'<openbadges:assertion verify="{url}"><![CDATA[{json.dumps(badge.documents["/assertions/1"])}]]>'
           f'</openbadges:assertion><rect width="8" height="8"/></svg>')
    assert_valid_ob2(svg)
    assert_valid_ob2(svg.encode())
    assert_valid_ob2(json.dumps(badge.documents["/assertions/1"]))  # JSON in hand: the hosted copy is fetched
    unbaked = validate_ob2(png())
    assert not unbaked["report"]["valid"]
    assert "Could not find Open Badges metadata" in "\n".join(problems(unbaked))


def test_ob2_validator_reports_a_wrong_recipient(badge):
    result = validate_ob2(f"{badge.base}/assertions/1", recipient_email="someone.else@example.org")
    assert not result["report"]["valid"]
    assert "did not match" in "\n".join(problems(result))
    with pytest.raises(AssertionError, match="did not match"):
        assert_valid_ob2(f"{badge.base}/assertions/1", recipient_email="someone.else@example.org")


def test_ob2_validator_reports_a_missing_badge(badge):
    badge.documents["/assertions/1"]["badge"] = f"{badge.base}/badges/nowhere"
    result = validate_ob2(f"{badge.base}/assertions/1")
    assert not result["report"]["valid"] and result["report"]["errorCount"] > 0
    del badge.documents["/assertions/1"]["badge"]
    result = validate_ob2(f"{badge.base}/assertions/1")
    assert "Required property badge not present" in "\n".join(problems(result))


def test_ob2_warnings_can_be_made_to_fail(badge):
    badge.documents["/assertions/copy"] = badge.documents["/assertions/1"]  # served at a URL that is not its id
    assert_valid_ob2(f"{badge.base}/assertions/copy")
    with pytest.raises(AssertionError, match="declared its id"):
        assert_valid_ob2(f"{badge.base}/assertions/copy", allow_warnings=False)


def test_ob2_validator_reports_a_bad_recipient_hash(badge):
    badge.documents["/assertions/1"]["recipient"]["identity"] = "sha256$not-hex"
    result = validate_ob2(f"{badge.base}/assertions/1")
    assert not result["report"]["valid"]


def test_ob2_hosted_revocation_is_reported(badge):
    badge.gone.add("/assertions/1")
    result = validate_ob2(f"{badge.base}/assertions/1")
    assert result["revoked"] is True
    assert not result["report"]["valid"]
    assert "Revoked: HTTP 410" in "\n".join(problems(result))


def test_ob2_extra_checks_catch_what_the_validator_does_not(badge):
    badge.documents["/badges/feedback"]["image"] = f"{badge.base}/badges/feedback/missing.png"
    result = validate_ob2(f"{badge.base}/assertions/1")
    assert result["report"]["valid"]  # 1EdTech's validator 1.1.2 does not look at hosted image responses
    assert any(c["name"] == "image" and not c["passed"] for c in result["extra_checks"])
    with pytest.raises(AssertionError, match="EXTRA image"):
        assert_valid_ob2(f"{badge.base}/assertions/1")


def test_ob2_validator_fetches_nothing_beyond_loopback(ob2_python):
    result = validate_ob2("https://badges.example.edu/assertions/1")
    assert not result["report"]["valid"]
    assert "offline: refusing to fetch https://badges.example.edu/assertions/1" in json.dumps(result)
