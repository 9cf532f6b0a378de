"""The earner's identity inside a badge: a salted SHA-256 of the email, never the email itself."""

from __future__ import annotations

import hashlib
import secrets


def normalise_email(email: str) -> str:
    """Addresses are compared (and hashed) trimmed and lower-cased, as badge verifiers do."""
    return email.strip().lower()


def hashed_identity(email: str, salt: str) -> str:
    """`sha256$<hex>` of email + salt (Open Badges 2.0 IdentityObject; OB 3.0 `identityHash`)."""
    return "sha256$" + hashlib.sha256((normalise_email(email) + salt).encode()).hexdigest()


def new_recipient(email: str) -> tuple[str, str]:
    """A random salt per badge (two badges of one person cannot be linked by their hash) and the hash."""
    salt = secrets.token_hex(16)
    return salt, hashed_identity(email, salt)
