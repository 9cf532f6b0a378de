"""The picture a badge is baked into: the catalog's PNG or SVG on this site, else the generated one."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from PIL import Image

from lti_tool.badges import artwork, images
from lti_tool.badges.baking import unbake_png, unbake_svg


def _microcredential(image: str | None, title: str = "Feedback to Promote Learning"):
    return SimpleNamespace(badge_image=image, title=title, issuing_organization="Division of Education", slug="x")


@pytest.fixture
def static_folder(app_context, tmp_path):
    saved = app_context.static_folder
    app_context.static_folder = str(tmp_path)
    yield tmp_path
    app_context.static_folder = saved


def _png(colour=(200, 30, 30, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (64, 64), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_catalog_png_on_this_site_is_used_and_wrapped_as_svg(static_folder):
    (static_folder / "badges").mkdir()
    (static_folder / "badges" / "red.png").write_bytes(_png())
    png, svg = artwork.base_images(_microcredential("/static/badges/red.png"))
    assert png == _png()
    assert svg.lstrip().startswith("<svg") and "data:image/png;base64," in svg


def test_a_catalog_svg_on_this_site_is_used_and_rasterised(static_folder):
    svg_text = ('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
                '<circle cx="50" cy="50" r="40" fill="#0b5cad"/></svg>')
    (static_folder / "blue.svg").write_text(svg_text)
    png, svg = artwork.base_images(_microcredential("/static/blue.svg"))
    assert svg == svg_text
    assert Image.open(io.BytesIO(png)).format == "PNG"


@pytest.mark.parametrize("image", [
    None,
    "https://images.example.org/badge.png",  # never fetched at run time
    "/static/../outside.png",  # a real PNG, outside the static folder
    "/static/missing.png",
    "/static/not-an-image.png",  # a text file named .png
    "/static/entities.svg",  # an SVG that cannot be parsed safely
    "/static/bad-crc.png",  # looks like a PNG, but cannot carry a badge
])
def test_anything_else_gives_the_generated_picture(static_folder, image):
    (static_folder.parent / "outside.png").write_bytes(_png())
    (static_folder / "not-an-image.png").write_text("hello")
    broken = bytearray(_png())
    broken[29] ^= 0xFF  # the IHDR chunk's CRC
    (static_folder / "bad-crc.png").write_bytes(bytes(broken))
    (static_folder / "entities.svg").write_text(
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]>'
        '<svg xmlns="http://www.w3.org/2000/svg"><text>&a;</text></svg>')
    microcredential = _microcredential(image)
    png, svg = artwork.base_images(microcredential)
    assert png == images.default_badge_png(microcredential.title, microcredential.issuing_organization)
    assert svg == images.default_badge_svg(microcredential.title, microcredential.issuing_organization)


def test_a_badge_is_baked_into_both_pictures(app_context):
    badge = SimpleNamespace(microcredential=_microcredential(None), credential_jwt="eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
                            assertion={"id": "https://tool.example/ob/v2/assertions/1", "type": "Assertion"})
    png = artwork.baked_png(badge)
    assert unbake_png(png, "openbadgecredential") == badge.credential_jwt
    assert '"https://tool.example/ob/v2/assertions/1"' in unbake_png(png, "openbadges")
    baked = unbake_svg(artwork.baked_svg(badge))
    assert baked["ob3"] == badge.credential_jwt and baked["ob2_verify"] == badge.assertion["id"]
