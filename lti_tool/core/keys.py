"""The tool's one key store (`keys/`): the RSA key pairs that sign LTI messages and badges alike.

`keys.json` in the keys folder lists every key with its status: `signing` (exactly one), `published`
(kept in the LTI JWKS after a rotation so that messages it signed still verify) or `retired` (gone from the
JWKS). No key file is ever deleted: a badge signed years ago still verifies, because `find(kid)` resolves
every key that ever signed, whatever its status (`/ob/keys/<kid>` serves it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK

MANIFEST = "keys.json"
KEY_SIZE = 2048


class KeyStoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class ToolKey:
    kid: str
    private_pem: str
    public_pem: str
    status: str
    created_at: str

    @property
    def public_jwk(self) -> dict:
        return public_jwk(self.public_pem)


@lru_cache(maxsize=64)
def public_jwk(public_pem: str) -> dict:
    """The public JWK with its RFC 7638 thumbprint as `kid`, `alg` RS256 and `use` sig."""
    jwk = JWK.from_pem(public_pem.encode())
    data = json.loads(jwk.export_public())
    data["kid"] = jwk.thumbprint()
    data["alg"] = "RS256"
    data["use"] = "sig"
    return data


@lru_cache(maxsize=64)
def _load_key(path: str, kid: str, status: str, created_at: str) -> ToolKey:
    """A key pair read from its PEM file (kept in memory: key files never change once written)."""
    private_pem = Path(path).read_text()
    private_key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return ToolKey(kid, private_pem, public_pem, status, created_at)


class KeyStore:
    """Key pairs in one folder; files are written 0600 and never leave it."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self._cached: tuple[int, list[dict]] | None = None

    # -- reading -------------------------------------------------------------------------------
    def _manifest(self) -> list[dict]:
        """The manifest, read again only when the file changed (a launch must not re-read keys)."""
        path = self.directory / MANIFEST
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            return []
        if self._cached is None or self._cached[0] != stamp:
            self._cached = (stamp, json.loads(path.read_text()))
        return [dict(entry) for entry in self._cached[1]]

    def _load(self, entry: dict) -> ToolKey:
        return _load_key(str(self.directory / entry["file"]), entry["kid"], entry["status"], entry["created_at"])

    def keys(self) -> list[ToolKey]:
        return [self._load(entry) for entry in self._manifest()]

    def signing_key(self) -> ToolKey:
        for entry in self._manifest():
            if entry["status"] == "signing":
                return self._load(entry)
        raise KeyStoreError(f"No signing key in {self.directory}: run `flask --app wsgi keys ensure`")

    def find(self, kid: str) -> ToolKey | None:
        """Any key this store ever made, retired ones included (badges stay verifiable after a rotation)."""
        for entry in self._manifest():
            if entry["kid"] == kid:
                return self._load(entry)
        return None

    def jwks(self) -> dict:
        """Every key still published (the signing key and those kept after a rotation)."""
        return {"keys": [k.public_jwk for k in self.keys() if k.status in ("signing", "published")]}

    # -- changing ------------------------------------------------------------------------------
    def _write_manifest(self, entries: list[dict]) -> None:
        tmp = self.directory / (MANIFEST + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(entries, handle, indent=2)
        os.replace(tmp, self.directory / MANIFEST)

    def _new_key_file(self) -> tuple[str, str]:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
        private_pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        public_pem = (
            private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        kid = public_jwk(public_pem)["kid"]
        file_name = f"{kid}.pem"
        fd = os.open(self.directory / file_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(private_pem)
        return kid, file_name

    def ensure(self) -> ToolKey:
        """Generate the first key pair when there is none; return the signing key."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not any(e["status"] == "signing" for e in self._manifest()):
            self.rotate()
        return self.signing_key()

    def rotate(self) -> ToolKey:
        """Add a new signing key; the previous signing key stays published until retired."""
        self.directory.mkdir(parents=True, exist_ok=True)
        entries = self._manifest()
        for entry in entries:
            if entry["status"] == "signing":
                entry["status"] = "published"
        kid, file_name = self._new_key_file()
        entries.append(
            {"kid": kid, "file": file_name, "status": "signing", "created_at": datetime.now(UTC).isoformat()}
        )
        self._write_manifest(entries)
        return self.signing_key()

    def retire(self, kid: str) -> None:
        """Stop publishing a key. The signing key cannot be retired: rotate first."""
        entries = self._manifest()
        for entry in entries:
            if entry["kid"] == kid:
                if entry["status"] == "signing":
                    raise KeyStoreError("That is the signing key: rotate first, then retire it")
                entry["status"] = "retired"
                self._write_manifest(entries)
                return
        raise KeyStoreError(f"No key with kid {kid}")


def key_store() -> KeyStore:
    """The key store of the current app (LTI_KEYS_DIR), one per app so that its manifest cache lives on."""
    from flask import current_app

    store = current_app.extensions.get("lti_key_store")
    if store is None or str(store.directory) != str(current_app.config["LTI_KEYS_DIR"]):
        store = current_app.extensions["lti_key_store"] = KeyStore(current_app.config["LTI_KEYS_DIR"])
    return store
