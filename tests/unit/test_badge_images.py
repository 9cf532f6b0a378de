"""Badge images: the generated default in both forms, the PNG↔SVG conversions, sniffing by content."""

from __future__ import annotations

import base64
import io
import re

import pytest
from defusedxml import ElementTree as SafeElementTree
from PIL import Image

from lti_tool.badges.baking import OB2_KEYWORD, bake_png, bake_svg, unbake_png, unbake_svg
from lti_tool.badges.images import (
    BADGE_SIZE,
    default_badge_png,
    default_badge_svg,
    png_from_svg,
    sniff_image,
    svg_from_png,
)

SVG_NS = "{http://www.w3.org/2000/svg}"
TITLE = "Culturally Responsive Classroom Discourse"
ISSUER = "Northwind Teacher Academy"


def decoded(png: bytes) -> Image.Image:
    Image.open(io.BytesIO(png)).verify()
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_default_png_is_a_400_square_rgba_image():
    image = decoded(default_badge_png(TITLE, ISSUER))

    assert image.format == "PNG"
    assert (image.size, image.mode) == ((BADGE_SIZE, BADGE_SIZE), "RGBA")
    assert image.getpixel((0, 0))[3] == 0  # transparent around the hexagon
    assert image.getpixel((200, 120))[3] == 255


def test_default_png_is_cached_per_title_and_subtitle():
    first = default_badge_png(TITLE, ISSUER)

    assert default_badge_png(TITLE, ISSUER) is first
    assert default_badge_png(TITLE, "Another Academy") != first


def test_default_svg_names_the_credential_accessibly():
    svg = default_badge_svg(TITLE, ISSUER)
    root = SafeElementTree.fromstring(svg)

    assert root.tag == f"{SVG_NS}svg"
    assert (root.get("width"), root.get("height"), root.get("role")) == ("400", "400", "img")
    assert root.find(f"{SVG_NS}title").text == f"{TITLE} — {ISSUER}"
    title_lines = [span.text for span in root.iter(f"{SVG_NS}tspan")]
    assert " ".join(title_lines) == TITLE
    assert 2 <= len(title_lines) <= 4
    assert ISSUER in "".join(root.itertext())


def test_default_svg_escapes_text_for_xml():
    svg = default_badge_svg('Rubrics <script>alert("x")</script> & Co', "A & B <Org>")
    root = SafeElementTree.fromstring(svg)

    assert "<script>" not in svg
    assert root.find(f"{SVG_NS}title").text == 'Rubrics <script>alert("x")</script> & Co — A & B <Org>'


def test_default_svg_keeps_a_long_title_to_four_lines():
    title = "Assessment Literacy for Middle School Mathematics Teachers in Rural and Remote Communities"
    root = SafeElementTree.fromstring(default_badge_svg(title, ISSUER))

    lines = [span.text for span in root.iter(f"{SVG_NS}tspan")]
    assert len(lines) == 4
    assert lines[-1].endswith("…")
    assert all(len(line) <= 16 for line in lines)


def test_default_images_bake_and_unbake():
    png = bake_png(default_badge_png(TITLE, ISSUER), {OB2_KEYWORD: "https://tool.example/ob/assertions/1"})
    svg = bake_svg(default_badge_svg(TITLE, ISSUER), ob3_jwt="a.b.c")

    assert decoded(png).text[OB2_KEYWORD] == unbake_png(png, OB2_KEYWORD)
    assert unbake_svg(svg)["ob3"] == "a.b.c"
    assert TITLE.split()[0] in svg


def test_png_from_svg_renders_the_default_design():
    png = png_from_svg(default_badge_svg(TITLE, ISSUER))

    assert png is not None
    image = decoded(png)
    assert image.size == (BADGE_SIZE, BADGE_SIZE)
    assert image.getpixel((200, 120))[3] == 255


def test_png_from_svg_scales_a_small_svg_to_badge_width():
    png = png_from_svg('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="9"/></svg>')

    assert decoded(png).size == (BADGE_SIZE, BADGE_SIZE // 2)


@pytest.mark.parametrize(
    "svg",
    [
        pytest.param(
            '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="9" height="9">'
            '<image xlink:href="/etc/hostname.png" width="9" height="9"/></svg>',
            id="file on disk",
        ),
        pytest.param(
            '<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><image href="https://x.example/a.png"/></svg>',
            id="remote image",
        ),
        pytest.param(
            '<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>',
            id="xxe",
        ),
        pytest.param("<html/>", id="not svg"),
        pytest.param("not xml at all", id="garbage"),
    ],
)
def test_png_from_svg_declines_what_it_may_not_render(svg):
    assert png_from_svg(svg) is None


def test_svg_from_png_wraps_the_png_unchanged():
    png = default_badge_png("Coaching", ISSUER)
    svg = svg_from_png(png)
    root = SafeElementTree.fromstring(svg)

    assert (root.get("width"), root.get("height"), root.get("viewBox")) == ("400", "400", "0 0 400 400")
    (image,) = root.iter(f"{SVG_NS}image")
    href = image.get("{http://www.w3.org/1999/xlink}href")
    assert href.startswith("data:image/png;base64,")
    assert base64.b64decode(href.removeprefix("data:image/png;base64,")) == png
    assert sniff_image(svg.encode()) == "svg"


def test_svg_from_png_refuses_a_non_png():
    with pytest.raises(ValueError, match="Not a PNG"):
        svg_from_png(b"GIF89a" + b"\x00" * 30)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "svg"),
        (b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- made by hand -->\n<svg width="1"></svg>', "svg"),
        (b'<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "svg11.dtd">\n<svg>', "svg"),
        (b'<svg:svg xmlns:svg="http://www.w3.org/2000/svg"/>', "svg"),
        (b"<html><body><svg></svg></body></html>", None),
        (b"<svgx/>", None),
        (b"GIF89a", None),
        (b"\xff\xd8\xff\xe0JFIF", None),
        (b"", None),
    ],
)
def test_sniff_image_by_content(data, kind):
    assert sniff_image(data) == kind


def test_default_svg_has_no_external_references():
    svg = default_badge_svg(TITLE, ISSUER)

    assert not re.search(r"href|url\(", svg)
