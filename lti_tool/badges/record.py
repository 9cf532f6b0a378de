"""The printable record of completion: one US Letter page that an educator hands to their district for in-service
credit, with the badge, the hours and where anyone can verify it.

Text is set in the PDF core font Helvetica (WinAnsiEncoding), so that it stays extractable and searchable and the
file small and quick to make (no font is embedded). Characters that encoding lacks are transliterated where a
close Latin form exists ("Łucja Dvořák" → "Lucja Dvorák") and printed as "?" otherwise; the exact Unicode
strings are kept in the document's metadata (title, subject, keywords), which PDF stores as UTF-16.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import unicodedata
from collections import OrderedDict
from datetime import date
from io import BytesIO

from fpdf import FPDF
from PIL import Image

__all__ = ["record_of_completion_pdf"]

ENCODING = "windows-1252"  # what fpdf2 writes as WinAnsiEncoding for core fonts
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
# Letters without a decomposition into a base letter plus marks, spelled the way they are usually transliterated.
TRANSLITERATIONS = str.maketrans({
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i", "Ŀ": "L", "ŀ": "l", "Ŧ": "T", "ŧ": "t",
    "Ə": "E", "ə": "e", "Ŋ": "N", "ŋ": "n", "ĸ": "k", "ſ": "s",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2212": "-", "\u00a0": " ", "\u202f": " ", "\u2009": " ",
})
INK = (29, 36, 51)
MUTED = (91, 100, 117)
ACCENT = (11, 92, 173)
PAGE_MARGIN = 19  # mm (3/4 inch)
BADGE_SIZE = 42  # mm
BADGE_JPEG_QUALITY = 95
PIXEL_CHUNKS = (b"IHDR", b"PLTE", b"tRNS", b"IDAT")  # what a PNG looks like; baked iTXt chunks differ per earner
_badge_images: OrderedDict[bytes, bytes] = OrderedDict()
_badge_images_lock = threading.Lock()
BADGE_IMAGES_CACHED = 64


def printable(text: str) -> str:
    """`text` in the core font's encoding: unchanged where it fits, else transliterated, else "?" per character."""
    text = unicodedata.normalize("NFC", str(text))
    if text.isprintable() and _encodable(text):  # nearly always: no character-by-character work
        return text
    text = text.translate(TRANSLITERATIONS)
    out = []
    for char in text:
        if unicodedata.category(char).startswith("C"):  # control and format characters: never printed
            if char in "\t\n\r":
                out.append(" ")
            continue
        if _encodable(char):
            out.append(char)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(base if base and _encodable(base) else "?")
    return "".join(out)


def _encodable(text: str) -> bool:
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def _pixels_key(png: bytes) -> bytes:
    """A digest of the chunks that make a PNG's picture: every earner's baked copy of one badge has the same."""
    digest = hashlib.sha256()
    position = 8
    try:
        while position + 8 <= len(png):
            length, kind = struct.unpack(">I4s", png[position:position + 8])
            if kind in PIXEL_CHUNKS:
                digest.update(png[position:position + 8 + length])
            position += 12 + length
    except struct.error:
        return hashlib.sha256(png).digest()
    return digest.digest()


def badge_jpeg(png: bytes) -> bytes:
    """The badge on the page's white, as a JPEG (4:4:4, quality 95) that fpdf2 embeds as it is.

    A PNG would be decoded and deflated again for every record (most of the time a record takes); the JPEG is
    made once per picture and kept.
    """
    key = _pixels_key(png)
    with _badge_images_lock:
        if key in _badge_images:
            _badge_images.move_to_end(key)
            return _badge_images[key]
    with Image.open(BytesIO(png)) as image:
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
    out = BytesIO()
    flat.save(out, format="JPEG", quality=BADGE_JPEG_QUALITY, subsampling=0)
    jpeg = out.getvalue()
    with _badge_images_lock:
        _badge_images[key] = jpeg
        while len(_badge_images) > BADGE_IMAGES_CACHED:
            _badge_images.popitem(last=False)
    return jpeg


def _long_date(day: date) -> str:
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"  # not strftime: the same in every locale


class _Record(FPDF):
    def line(self, width: float, height: float, text: str, align: str, link: str | None = None) -> None:
        """One line of text, wrapped only when it does not fit (`multi_cell` costs ten times a `cell`)."""
        if self.get_string_width(text) <= width - 2 * self.c_margin:
            self.cell(width, height, text, align=align, link=link or "", new_x="LMARGIN", new_y="NEXT")
        else:
            self.multi_cell(width, height, text, align=align, link=link or "", new_x="LMARGIN", new_y="NEXT")

    def centered(self, text: str, size: float, style: str = "", color=INK, gap: float = 2.0) -> None:
        """A centered paragraph."""
        self.set_font("Helvetica", style, size)
        self.set_text_color(*color)
        self.line(self.epw, size * 0.48, printable(text), "C")
        self.ln(gap)

    def fact(self, label: str, value: str) -> None:
        """A label and its value, side by side around the page's middle."""
        half = self.epw / 2
        self.set_font("Helvetica", "", 11)
        self.set_text_color(*MUTED)
        self.cell(half - 2, 7, printable(label), align="R")
        self.set_x(self.l_margin + half + 2)
        self.set_font("Helvetica", "B", 11)
        self.set_text_color(*INK)
        self.line(half - 2, 7, printable(value), "L")


def record_of_completion_pdf(
    *,
    earner_name: str,
    microcredential: str,
    organization: str,
    issued_on: date,
    inservice_hours: int,
    verify_url: str,
    credential_id: str,
    badge_png: bytes | None = None,
) -> bytes:
    """A one-page US Letter PDF recording that `earner_name` earned `microcredential`; its bytes."""
    pdf = _Record(orientation="portrait", unit="mm", format="letter")
    pdf.core_fonts_encoding = ENCODING
    pdf.set_margins(PAGE_MARGIN + 8, PAGE_MARGIN + 10, PAGE_MARGIN + 8)
    pdf.set_auto_page_break(False)
    pdf.set_title(f"Record of Completion: {microcredential}")
    pdf.set_subject(f"{earner_name} has earned the micro-credential {microcredential} ({organization})")
    pdf.set_author(organization)
    pdf.set_keywords(f"{credential_id} {verify_url}")
    pdf.set_creator("Micro-Credential Bridge")
    pdf.add_page()

    pdf.set_draw_color(*ACCENT)
    pdf.set_line_width(0.8)
    pdf.rect(PAGE_MARGIN, PAGE_MARGIN, pdf.w - 2 * PAGE_MARGIN, pdf.h - 2 * PAGE_MARGIN)
    pdf.set_line_width(0.2)
    pdf.rect(PAGE_MARGIN + 2, PAGE_MARGIN + 2, pdf.w - 2 * PAGE_MARGIN - 4, pdf.h - 2 * PAGE_MARGIN - 4)

    pdf.centered(organization, 12, color=MUTED, gap=4)
    pdf.centered("Record of Completion", 30, "B", color=ACCENT, gap=8)
    if badge_png:
        pdf.image(BytesIO(badge_jpeg(badge_png)), x=(pdf.w - BADGE_SIZE) / 2, y=pdf.get_y(), w=BADGE_SIZE, h=BADGE_SIZE,
                  keep_aspect_ratio=True, alt_text=f"Badge: {microcredential}")
        pdf.set_y(pdf.get_y() + BADGE_SIZE + 8)
    else:
        pdf.ln(6)
    pdf.centered("This is to record that", 12, color=MUTED, gap=3)
    pdf.centered(earner_name, 26, "B", gap=4)
    pdf.centered("has earned the micro-credential", 13, "I", color=MUTED, gap=4)
    pdf.centered(microcredential, 19, "B", gap=3)
    pdf.centered(f"issued by {organization}", 13, color=MUTED, gap=12)

    pdf.fact("Date issued:", _long_date(issued_on))
    pdf.fact("In-service hours:", str(int(inservice_hours)))
    pdf.fact("Issuing organization:", organization)
    pdf.fact("Credential ID:", credential_id)
    pdf.ln(10)

    pdf.centered("Verify this credential at", 11, color=MUTED, gap=1)
    url = printable(verify_url)
    size = 11.0
    pdf.set_font("Helvetica", "U", size)
    while size > 7 and pdf.get_string_width(url) > pdf.epw:  # on one line when it can be (a clean link)
        size -= 0.5
        pdf.set_font_size(size)
    pdf.set_text_color(*ACCENT)
    pdf.line(pdf.epw, size * 0.5, url, "C", link=verify_url)

    pdf.set_y(pdf.h - PAGE_MARGIN - 16)
    pdf.set_font("Helvetica", "", 8.5)
    pdf.set_text_color(*MUTED)
    pdf.line(pdf.epw, 4, "This record accompanies an Open Badges credential; its verification page shows whether "
             "it is still valid.", "C")
    return bytes(pdf.output())
