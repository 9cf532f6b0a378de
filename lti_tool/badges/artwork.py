"""The picture of a micro-credential's badge, as PNG and SVG: the catalog's image, else a generated one.

A catalog image on this site (`/static/…`, PNG or SVG, checked by content) is used as it is and converted to
the other format; anything else — none, an outside address, a file that is not a PNG or an SVG — gives the
generated image (the title on a simple shape), so that every badge can be baked without a network call.

A badge's own images are that picture with its OB 2.0 assertion and OB 3.0 credential baked in, made when
asked for (a copy of the picture's bytes with two chunks spliced in: well under a millisecond).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from flask import current_app

from lti_tool.badges import images
from lti_tool.badges.baking import bake_png, bake_svg
from lti_tool.badges.models import Badge
from lti_tool.catalog.models import MicroCredential

MAX_IMAGE_BYTES = 2 * 1024 * 1024


def _local_file(path: str) -> Path | None:
    """The file behind a `/static/…` address, when it is one inside the static folder."""
    if not path.startswith("/static/"):
        return None
    root = Path(current_app.static_folder).resolve()
    candidate = (root / path.removeprefix("/static/")).resolve()
    if root not in candidate.parents or not candidate.is_file() or candidate.stat().st_size > MAX_IMAGE_BYTES:
        return None
    return candidate


# A stand-in badge: each picture is baked once with it when loaded, so that one that cannot carry a badge (a
# PNG with a bad chunk, an SVG with entities) is replaced by the generated picture before any badge needs it.
_TRIAL_ASSERTION = {"id": "https://example.org/assertion", "type": "Assertion"}
_TRIAL_JWT = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"


def _carries_a_badge(png: bytes, svg: str) -> bool:
    try:
        bake_png(png, {"openbadges": "{}", "openbadgecredential": _TRIAL_JWT})
        bake_svg(svg, ob2_assertion=_TRIAL_ASSERTION, ob3_jwt=_TRIAL_JWT)
    except ValueError:
        return False
    return True


def _catalog_images(image_path: str) -> tuple[bytes, str] | None:
    local = _local_file(image_path) if image_path else None
    if local is None:
        return None
    data = local.read_bytes()
    kind = images.sniff_image(data)
    if kind == "png":
        return data, images.svg_from_png(data)
    if kind == "svg":
        try:
            svg = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        png = images.png_from_svg(svg)
        return (png, svg) if png is not None else None
    return None


@lru_cache(maxsize=256)
def _images(title: str, organization: str, image_path: str, stamp: float) -> tuple[bytes, str]:
    catalog = _catalog_images(image_path)
    if catalog is not None and _carries_a_badge(*catalog):
        return catalog
    return images.default_badge_png(title, organization), images.default_badge_svg(title, organization)


def base_images(microcredential: MicroCredential) -> tuple[bytes, str]:
    """(PNG bytes, SVG text) to bake; cached until the catalog entry or its image file changes."""
    image_path = (microcredential.badge_image or "").strip()
    local = _local_file(image_path) if image_path else None
    stamp = local.stat().st_mtime if local is not None else 0.0
    return _images(microcredential.title, microcredential.issuing_organization, image_path, stamp)


def baked_png(badge: Badge) -> bytes:
    """The PNG with an `openbadges` iTXt chunk (the OB 2.0 assertion) and an `openbadgecredential` one (the VC-JWT)."""
    png, _svg = base_images(badge.microcredential)
    assertion = json.dumps(badge.assertion, separators=(",", ":"))
    return bake_png(png, {"openbadges": assertion, "openbadgecredential": badge.credential_jwt})


def baked_svg(badge: Badge) -> str:
    """The SVG with `openbadges:assertion` (OB 2.0) and `openbadges:credential` (OB 3.0) elements."""
    _png, svg = base_images(badge.microcredential)
    return bake_svg(svg, ob2_assertion=badge.assertion, ob3_jwt=badge.credential_jwt)
