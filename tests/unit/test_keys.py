"""The tool's key store: generation, the published JWKS, rotation and retirement."""

import base64
import hashlib
import json
import stat

import pytest

from lti_tool.core.keys import KeyStore, KeyStoreError


def rfc7638_thumbprint(jwk: dict) -> str:
    members = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(members.encode()).digest()).rstrip(b"=").decode()


def test_first_key_is_generated_private_and_thumbprinted(tmp_path):
    store = KeyStore(tmp_path / "keys")
    key = store.ensure()
    assert stat.S_IMODE((tmp_path / "keys" / f"{key.kid}.pem").stat().st_mode) == 0o600
    (published,) = store.jwks()["keys"]
    assert published["kid"] == key.kid == rfc7638_thumbprint(published)
    assert published["alg"] == "RS256" and published["use"] == "sig"
    assert "d" not in published  # never the private part
    assert int.from_bytes(base64.urlsafe_b64decode(published["n"] + "=="), "big").bit_length() >= 2048


def test_ensure_is_idempotent(tmp_path):
    store = KeyStore(tmp_path)
    assert store.ensure().kid == store.ensure().kid
    assert len(store.keys()) == 1


def test_rotate_keeps_old_key_published_until_retired(tmp_path):
    store = KeyStore(tmp_path)
    old = store.ensure()
    new = store.rotate()
    assert store.signing_key().kid == new.kid != old.kid
    assert {k["kid"] for k in store.jwks()["keys"]} == {old.kid, new.kid}
    store.retire(old.kid)
    assert [k["kid"] for k in store.jwks()["keys"]] == [new.kid]
    # gone from the LTI JWKS, still resolvable for the badges it signed
    assert store.find(old.kid).public_jwk["n"] == old.public_jwk["n"]
    assert store.find("no-such-kid") is None


def test_signing_key_cannot_be_retired(tmp_path):
    store = KeyStore(tmp_path)
    key = store.ensure()
    with pytest.raises(KeyStoreError, match="rotate first"):
        store.retire(key.kid)


def test_missing_signing_key_is_a_clear_error(tmp_path):
    with pytest.raises(KeyStoreError, match="keys ensure"):
        KeyStore(tmp_path).signing_key()


def test_a_second_store_on_the_same_folder_sees_a_rotation(tmp_path):
    web, cli = KeyStore(tmp_path), KeyStore(tmp_path)
    first = web.ensure()
    assert web.signing_key().kid == first.kid
    rotated = cli.rotate()
    assert web.signing_key().kid == rotated.kid


def test_keys_cli_rotate_and_retire(runner):
    ensured = runner.invoke(args=["keys", "ensure"])
    assert ensured.exit_code == 0, ensured.output
    old_kid = ensured.output.split(": ")[1].strip()
    rotated = runner.invoke(args=["keys", "rotate"])
    assert rotated.exit_code == 0
    listing = runner.invoke(args=["keys", "list"]).output
    assert old_kid in listing and "published" in listing and "signing" in listing
    refused = runner.invoke(args=["keys", "retire", rotated.output.split(": ")[1].strip()])
    assert refused.exit_code != 0 and "rotate first" in refused.output
    assert runner.invoke(args=["keys", "retire", old_kid]).exit_code == 0


def test_keys_retire_takes_a_kid_that_starts_with_a_dash(runner):
    result = runner.invoke(args=["keys", "retire", "-zNotAKnownKid"])
    assert "No such option" not in result.output
    assert result.exit_code != 0
    assert "-zNotAKnownKid" in result.output
