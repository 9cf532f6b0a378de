"""Badge images: a generated default, and each catalog image in both the PNG and the SVG form baking needs.

Pure functions, no Flask. The default PNG is rendered once per (title, subtitle) and cached, because
issuing bakes the same image for every earner of a micro-credential.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import re
import struct
import textwrap
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

import resvg_py
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree
from PIL import Image, ImageDraw, ImageFont

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BADGE_SIZE = 400
TITLE_WRAP = 16  # characters a line: most titles take two to four lines
TITLE_MAX_LINES = 4
SUBTITLE_MAX = 30
SUBTITLE_SIZE = 14
TITLE_MAX_WIDTH = 250  # pixels: what fits across the hexagon at the title's lowest line

# A calm teal hexagon: the same palette and geometry in the SVG and the PNG.
BADGE_FILL = "#2a7a80"
BADGE_RIM = "#8cc3c6"
TITLE_COLOUR = "#ffffff"
SUBTITLE_COLOUR = "#d8eeef"
CORNER_RADIUS = 14
OUTER_RADIUS = 172
INNER_RADIUS = 160
SEAL_CENTRE = (200, 94)
SEAL_RADIUS = 22
SVG_FONTS = "'DejaVu Sans', Helvetica, Arial, sans-serif"
# resvg maps the generic `sans-serif` to Arial, which Debian does not ship; its DejaVu Sans is.
RASTER_SANS_SERIF = "DejaVu Sans"
SUPERSAMPLE = 2  # Pillow's shapes are not anti-aliased: draw at twice the size, then downsample

_SVG_ROOT = re.compile(
    rb"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>\s*)*<(?:[A-Za-z_][\w.-]*:)?svg[\s/>]",
    re.DOTALL,
)
_HREF_ATTRIBUTES = ("href", "{http://www.w3.org/1999/xlink}href")


def sniff_image(data: bytes) -> str | None:
    """Tell "png" or "svg" by the bytes themselves, never by a file name or a declared type; else None."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if _SVG_ROOT.match(data.removeprefix(b"\xef\xbb\xbf")[:4096]):
        return "svg"
    return None


def default_badge_svg(title: str, subtitle: str) -> str:
    """A 400×400 rounded teal hexagon with the title wrapped in the middle and the issuer below it."""
    lines, font_size, line_height, first_baseline, subtitle_y = _layout(title)
    label = f"{title} — {subtitle}" if subtitle else title
    title_spans = "".join(
        f'<tspan x="200" y="{first_baseline + index * line_height:.1f}">{escape(line)}</tspan>'
        for index, line in enumerate(lines)
    )
    seal_x, seal_y = SEAL_CENTRE
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{BADGE_SIZE}" height="{BADGE_SIZE}"'
        f' viewBox="0 0 {BADGE_SIZE} {BADGE_SIZE}" role="img" aria-labelledby="badge-title">'
        f'<title id="badge-title">{escape(label)}</title>'
        f'<polygon points="{_points(OUTER_RADIUS)}" fill="{BADGE_FILL}" stroke="{BADGE_FILL}"'
        f' stroke-width="{2 * CORNER_RADIUS}" stroke-linejoin="round"/>'
        f'<polygon points="{_points(INNER_RADIUS)}" fill="none" stroke="{BADGE_RIM}" stroke-width="3"'
        ' stroke-linejoin="round"/>'
        f'<circle cx="{seal_x}" cy="{seal_y}" r="{SEAL_RADIUS}" fill="{BADGE_RIM}"/>'
        f'<polyline points="{_check_mark_points(1)}" fill="none" stroke="{BADGE_FILL}" stroke-width="5"'
        ' stroke-linecap="round" stroke-linejoin="round"/>'
        f'<text text-anchor="middle" font-family="{SVG_FONTS}" font-size="{font_size}"'
        f' fill="{TITLE_COLOUR}">{title_spans}</text>'
        f'<text x="200" y="{subtitle_y:.1f}" text-anchor="middle" font-family="{SVG_FONTS}"'
        f' font-size="{SUBTITLE_SIZE}"'
        f' fill="{SUBTITLE_COLOUR}">{escape(_shorten(subtitle, SUBTITLE_MAX))}</text>'
        "</svg>"
    )


def default_badge_png(title: str, subtitle: str) -> bytes:
    """The default design as a 400×400 RGBA PNG; the same strings always give the same (cached) bytes."""
    return _render_default_png(title, subtitle)


def svg_from_png(png: bytes) -> str:
    """An SVG of the PNG's size showing it as a data URI, for an image the catalog has only as a PNG.

    Give the unbaked PNG: whatever is baked into it would otherwise travel, stale, inside the SVG too.
    """
    width, height = _png_size(png)
    data_uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
        f' width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f'<image width="{width}" height="{height}" xlink:href={quoteattr(data_uri)}/></svg>'
    )


@functools.lru_cache(maxsize=64)
def png_from_svg(svg: str) -> bytes | None:
    """The SVG rasterized by resvg, BADGE_SIZE pixels wide; None when it cannot or may not be rendered.

    None — for a document that is not a safe, self-contained SVG (entity declarations, or an `href`
    that is neither a fragment nor a data URI, which resvg would read from this server's disk) or that
    resvg refuses — lets the caller fall back to the default PNG. Cached: every earner gets the same image.
    """
    try:
        root = SafeElementTree.fromstring(svg)
    except (DefusedXmlException, SafeElementTree.ParseError):
        return None
    if root.tag not in ("{http://www.w3.org/2000/svg}svg", "svg") or _has_external_reference(root):
        return None
    try:
        return bytes(resvg_py.svg_to_bytes(svg_string=svg, width=BADGE_SIZE, sans_serif_family=RASTER_SANS_SERIF))
    except Exception:  # resvg reports a document it cannot render with assorted exception types
        return None


def _has_external_reference(root: Element) -> bool:
    return any(
        not value.startswith(("#", "data:"))
        for element in root.iter()
        for name in _HREF_ATTRIBUTES
        if (value := (element.get(name) or "").strip())
    )


def _png_size(png: bytes) -> tuple[int, int]:
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR" or len(png) < 24:
        raise ValueError("Not a PNG image: the PNG signature or its IHDR chunk is missing.")
    return struct.unpack(">II", png[16:24])


# Layout shared by both renderings ---------------------------------------------------------------------


def _title_lines(title: str) -> list[str]:
    lines = textwrap.wrap(" ".join(title.split()), TITLE_WRAP) or [""]
    if len(lines) > TITLE_MAX_LINES:
        lines = [*lines[: TITLE_MAX_LINES - 1], _shorten(" ".join(lines[TITLE_MAX_LINES - 1 :]), TITLE_WRAP)]
    return lines


def _layout(title: str) -> tuple[list[str], int, float, float, float]:
    """Title lines, font size, line height, first baseline and subtitle baseline, centred on the badge."""
    lines = _title_lines(title)
    longest = max(len(line) for line in lines) or 1
    # 0.6 em is a wide sans-serif's average character; the SVG may be shown in any such font.
    font_size = min(34 if len(lines) <= 2 else 28, int(TITLE_MAX_WIDTH / (0.6 * longest)))
    line_height = font_size * 1.2
    block_height = line_height * (len(lines) - 1)
    first_baseline = 196 - block_height / 2 + font_size * 0.35
    return lines, font_size, line_height, first_baseline, 286.0


def _shorten(text: str, width: int) -> str:
    """`text` in at most `width` characters, cut at a word where one fits."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    shortened = textwrap.shorten(text, width, placeholder="…")
    return shortened if shortened != "…" else text[: width - 1] + "…"


def _hexagon(radius: float, scale: float = 1) -> list[tuple[float, float]]:
    """A hexagon standing on a point, centred on the badge."""
    centre = BADGE_SIZE / 2
    return [
        (
            (centre + radius * math.cos(math.radians(angle))) * scale,
            (centre + radius * math.sin(math.radians(angle))) * scale,
        )
        for angle in range(-90, 270, 60)
    ]


def _points(radius: float) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in _hexagon(radius))


def _check_mark(scale: float) -> list[tuple[float, float]]:
    x, y = SEAL_CENTRE
    return [((x - 9) * scale, (y + 1) * scale), ((x - 3) * scale, (y + 7) * scale), ((x + 10) * scale, (y - 7) * scale)]


def _check_mark_points(scale: float) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in _check_mark(scale))


@functools.lru_cache(maxsize=128)
def _render_default_png(title: str, subtitle: str) -> bytes:
    scale = SUPERSAMPLE
    size = BADGE_SIZE * scale
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    _rounded_polygon(draw, _hexagon(OUTER_RADIUS, scale), CORNER_RADIUS * scale, fill=BADGE_FILL)
    inner = _hexagon(INNER_RADIUS, scale)
    draw.line([*inner, inner[0], inner[1]], fill=BADGE_RIM, width=3 * scale, joint="curve")
    seal_x, seal_y = SEAL_CENTRE
    radius = SEAL_RADIUS * scale
    draw.ellipse(
        (seal_x * scale - radius, seal_y * scale - radius, seal_x * scale + radius, seal_y * scale + radius),
        fill=BADGE_RIM,
    )
    check = _check_mark(scale)
    draw.line(check, fill=BADGE_FILL, width=5 * scale, joint="curve")
    for x, y in (check[0], check[-1]):  # round caps, as stroke-linecap="round" in the SVG
        cap = 2.5 * scale
        draw.ellipse((x - cap, y - cap, x + cap, y + cap), fill=BADGE_FILL)

    lines, font_size, line_height, first_baseline, subtitle_y = _layout(title)
    title_font = ImageFont.load_default(size=font_size * scale)
    for index, line in enumerate(lines):
        baseline = (first_baseline + index * line_height) * scale
        draw.text((200 * scale, baseline), line, font=title_font, fill=TITLE_COLOUR, anchor="ms")
    subtitle_font = ImageFont.load_default(size=SUBTITLE_SIZE * scale)
    draw.text(
        (200 * scale, subtitle_y * scale),
        _shorten(subtitle, SUBTITLE_MAX),
        font=subtitle_font,
        fill=SUBTITLE_COLOUR,
        anchor="ms",
    )

    image = image.resize((BADGE_SIZE, BADGE_SIZE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _rounded_polygon(draw: ImageDraw.ImageDraw, corners: list[tuple[float, float]], radius: float, fill: str) -> None:
    """The polygon grown by `radius` with round corners — what a round-joined stroke does in the SVG."""
    draw.polygon(corners, fill=fill)
    draw.line([*corners, corners[0], corners[1]], fill=fill, width=round(2 * radius), joint="curve")
    for x, y in corners:
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=fill)
