"""The tool's own check of a badge's VC-JWT (the verification page's "Signature" line)."""

from __future__ import annotations

import base64
import json

import pytest

from lti_tool.badges import signing


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def request_context(app):
    with app.test_request_context(base_url="https://tool.example"):
        yield


def test_a_token_the_tool_signed_verifies_and_gives_its_payload(request_context):
    check = signing.verify(signing.sign({"id": "urn:x", "name": "Ada"}))
    assert check.ok and check.payload == {"id": "urn:x", "name": "Ada"}


def test_the_check_does_not_depend_on_the_host_the_page_is_read_through(app):
    with app.test_request_context(base_url="https://tool.example"):
        token = signing.sign({"id": "urn:x"})
    with app.test_request_context(base_url="http://localhost:5000"):
        assert signing.verify(token).ok


def _with_header(header: str, **changes) -> str:
    return _b64({**json.loads(base64.urlsafe_b64decode(header + "==")), **changes})


def _kid_elsewhere(header: str) -> str:
    kid = json.loads(base64.urlsafe_b64decode(header + "=="))["kid"].rsplit("/", 1)[1]
    return _with_header(header, kid=f"https://elsewhere.example/keys/{kid}")  # the right key, another address


@pytest.mark.parametrize(("mangle", "says"), [
    (lambda h, p, s: "not a jwt", "not a well-formed JWT"),
    (lambda h, p, s: f"{h}.{p}", "not a well-formed JWT"),
    (lambda h, p, s: f"{_with_header(h, alg='none')}.{p}.{s}", "Unexpected signature algorithm 'none'"),
    (lambda h, p, s: f"{_with_header(h, kid='https://tool.example/ob/keys/unknown')}.{p}.{s}",
     "not one of this issuer's keys"),
    (lambda h, p, s: f"{_kid_elsewhere(h)}.{p}.{s}", "not one of this issuer's keys"),
    (lambda h, p, s: f"{h}.{_b64({'id': 'urn:x', 'name': 'Eve'})}.{s}", "does not verify"),
    (lambda h, p, s: f"{h}.{p}.{s[:-4]}AAAA", "does not verify"),
])
def test_anything_else_is_refused_with_a_reason(request_context, mangle, says):
    header, payload, signature = signing.sign({"id": "urn:x", "name": "Ada"}).split(".")
    check = signing.verify(mangle(header, payload, signature))
    assert not check.ok and says in check.message and check.payload is None
