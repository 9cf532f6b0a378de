"""Addresses that admins type into forms: web addresses, images, emails — one rule each, shared by every form.

An image may be an http(s) address or a path on this site starting with "/" (the catalog's `badge_image`, an
issuer's logo): `badges.achievements` turns such a path into an absolute URL for verifiers. A path starting with
"//" is another site's address without its scheme, so it is refused.
"""

from __future__ import annotations

import re

MAX_EMAIL_LENGTH = 254  # RFC 5321 §4.5.3.1.3 (a path of 256 octets, less its angle brackets)
IMAGE_ADDRESS_HINT = "an http(s) address or a path on this site starting with '/'"
_SITE_PATH = re.compile(r"^/[^/\s]\S*$")
_WEB_ADDRESS = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\.]+$")


def is_web_address(text: str) -> bool:
    """An absolute http(s) URL with a host and no spaces."""
    return bool(_WEB_ADDRESS.match(text))


def is_image_address(text: str) -> bool:
    """An http(s) address, or a path on this site starting with a single "/"."""
    return is_web_address(text) or bool(_SITE_PATH.match(text))


def is_email(text: str) -> bool:
    """One "@", no spaces, and a domain with a dot (the shape, not whether the mailbox exists)."""
    domain = text.rpartition("@")[2]
    return bool(_EMAIL.match(text)) and ".." not in domain and not domain.startswith(".")
