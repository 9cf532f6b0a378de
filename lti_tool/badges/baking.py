"""Baking: the badge's own data carried inside its image, so a PNG or SVG file alone can be verified.

Open Badges 2.0 Baking Specification (PNGs, SVGs) and Open Badges 3.0 §5.3 "Baked Badge" (PNG, SVG).
Everything here is pure — bytes or text in, bytes or text out — so issuing can bake thousands of badges
without a request, and the PNG pixels are never decoded or re-encoded: baking only splices chunks.

One SVG carries both generations: the 2.0 `<openbadges:assertion>` comes first (2.0 asks for it
"directly after the <svg> tag") under `xmlns:openbadges="http://openbadges.org"` declared on the root,
and the 3.0 `<openbadges:credential>` follows it, re-declaring the `openbadges` prefix on itself as
`https://purl.imsglobal.org/ob/v3p0`. Both specs use the same prefix for different namespaces, so this is
the one well-formed way to satisfy both; 1EdTech's 2.0 validator (openbadges-bakery) looks the element up
by its literal name `openbadges:assertion`, and namespace-aware 3.0 readers resolve the prefix in scope.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, TreeBuilder
from xml.sax.saxutils import quoteattr

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OB2_KEYWORD = "openbadges"  # OB 2.0 Baking, PNGs: the hosted assertion JSON (or, in old badges, its URL)
OB3_KEYWORD = "openbadgecredential"  # OB 3.0 §5.3.1: the VC-JWT compact string

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
OB2_NAMESPACE = "http://openbadges.org"
OB3_NAMESPACE = "https://purl.imsglobal.org/ob/v3p0"
# Read-only tolerance: some 3.0 bakers use the context's path (".../spec/ob/v3p0") as the namespace.
OB3_NAMESPACES_READ = (OB3_NAMESPACE, "https://purl.imsglobal.org/spec/ob/v3p0")

TEXT_CHUNK_TYPES = frozenset({b"iTXt", b"tEXt", b"zTXt"})
MAX_INFLATED_TEXT = 1024 * 1024  # a compressed text chunk read back may not inflate past this (zip bomb)

_OB2_TAG = f"{{{OB2_NAMESPACE}}}assertion"
_OB3_TAGS = frozenset(f"{{{namespace}}}credential" for namespace in OB3_NAMESPACES_READ)
_SVG_ROOT_TAGS = frozenset({f"{{{SVG_NAMESPACE}}}svg", "svg"})

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Inside a well-formed tag a ">" can only hide in a quoted attribute value; this skips those.
_TAG_REST = re.compile(rb"(?:[^\"'>]++|\"[^\"]*+\"|'[^']*+')*+>")
_TAG_NAME = re.compile(rb"<([^\s/>]+)")
_ATTRIBUTE = re.compile(rb"\s+([^\s=/>]+)\s*=\s*(?:\"[^\"]*\"|'[^']*')")
_XML_ENCODING = re.compile(r"\A(\ufeff?<\?xml\b[^>]*?\bencoding\s*=\s*)([\"'])([^\"']*)\2")
# ">" is escaped so that "]]>" can never end the CDATA section early; the surrogates and U+FFFE/U+FFFF
# are not XML characters. JSON may escape any character inside a string, and these only occur there.
_NOT_FOR_CDATA = re.compile("[>\ud800-\udfff\ufffe\uffff]")


# PNG ---------------------------------------------------------------------------------------------------


def bake_png(png: bytes, chunks: dict[str, str]) -> bytes:
    """Return `png` with one uncompressed iTXt chunk per keyword, placed right after IHDR.

    Any iTXt, tEXt or zTXt chunk already carrying one of these keywords is dropped first: both specs
    allow a keyword only once, and "first after IHDR" makes ours the one every reader finds first.
    Every other chunk is copied byte for byte; bytes after IEND are dropped.
    """
    parsed = _read_png_chunks(png)
    baked = [_itxt_chunk(keyword, text) for keyword, text in chunks.items()]
    replaced = {_keyword_bytes(keyword) for keyword in chunks}
    kept = [chunk.raw for chunk in parsed[1:] if not (chunk.type in TEXT_CHUNK_TYPES and chunk.keyword in replaced)]
    return b"".join([PNG_SIGNATURE, parsed[0].raw, *baked, *kept])


def unbake_png(png: bytes, keyword: str) -> str | None:
    """The text baked under `keyword`: the first iTXt chunk's, else a legacy tEXt/zTXt chunk's, else None.

    2.0 badges baked before the Baking Specification put the assertion URL in a `tEXt` chunk.
    """
    wanted = _keyword_bytes(keyword)
    legacy: _PngChunk | None = None
    for chunk in _read_png_chunks(png):
        if chunk.type not in TEXT_CHUNK_TYPES or chunk.keyword != wanted:
            continue
        if chunk.type == b"iTXt":
            return _itxt_text(chunk.data)
        legacy = legacy or chunk
    return _latin1_text(legacy) if legacy else None


@dataclass(frozen=True)
class _PngChunk:
    type: bytes
    data: bytes
    raw: bytes  # length, type, data and CRC exactly as read, so a kept chunk is copied untouched

    @property
    def keyword(self) -> bytes:
        return self.data.split(b"\x00", 1)[0]


def _read_png_chunks(png: bytes) -> list[_PngChunk]:
    """Every chunk up to and including IEND, each CRC checked (PNG §5.3); ValueError on anything else."""
    if not isinstance(png, bytes | bytearray) or not png.startswith(PNG_SIGNATURE):
        raise ValueError("Not a PNG image: the 8-byte PNG signature is missing.")
    png = bytes(png)
    chunks: list[_PngChunk] = []
    position = len(PNG_SIGNATURE)
    while not chunks or chunks[-1].type != b"IEND":
        if position + 12 > len(png):
            raise ValueError("Truncated PNG image: it ends before its IEND chunk.")
        length, chunk_type = struct.unpack_from(">I4s", png, position)
        end = position + 12 + length
        if not chunk_type.isalpha() or end > len(png):
            raise ValueError(f"Corrupt PNG image: bad chunk header at byte {position}.")
        data = png[position + 8 : position + 8 + length]
        (crc,) = struct.unpack_from(">I", png, end - 4)
        if zlib.crc32(data, zlib.crc32(chunk_type)) != crc:
            raise ValueError(f"Corrupt PNG image: CRC mismatch in the {chunk_type.decode()} chunk at byte {position}.")
        chunks.append(_PngChunk(chunk_type, data, png[position:end]))
        position = end
    if chunks[0].type != b"IHDR":
        raise ValueError("Corrupt PNG image: the first chunk is not IHDR.")
    return chunks


def _keyword_bytes(keyword: str) -> bytes:
    """PNG §11.3.4.2: 1–79 printable Latin-1 characters, no leading, trailing or doubled spaces."""
    if not (
        0 < len(keyword) < 80
        and all(" " <= character <= "~" or "\xa1" <= character <= "\xff" for character in keyword)
        and keyword == keyword.strip()
        and "  " not in keyword
    ):
        raise ValueError(f"Not a valid PNG text keyword: {keyword!r}.")
    return keyword.encode("latin-1")


def _itxt_chunk(keyword: str, text: str) -> bytes:
    """keyword, NUL, compression flag 0, method 0, empty language tag, NUL, empty translated keyword, NUL, text."""
    if "\x00" in text:
        raise ValueError(f"The text for {keyword!r} contains a NUL character, which a PNG text chunk cannot hold.")
    data = _keyword_bytes(keyword) + b"\x00\x00\x00\x00\x00" + text.encode("utf-8")
    return struct.pack(">I4s", len(data), b"iTXt") + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(b"iTXt")))


def _itxt_text(data: bytes) -> str:
    try:
        _keyword, rest = data.split(b"\x00", 1)
        is_compressed = rest[0] == 1
        _language, _translated, text = rest[2:].split(b"\x00", 2)
    except (IndexError, ValueError) as error:
        raise ValueError("Corrupt PNG image: a malformed iTXt chunk.") from error
    try:
        return (_inflate(text) if is_compressed else text).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError("Corrupt PNG image: an iTXt chunk's text is not UTF-8.") from error


def _latin1_text(chunk: _PngChunk) -> str:
    _keyword, text = chunk.data.split(b"\x00", 1)
    if chunk.type == b"zTXt":
        text = _inflate(text[1:])  # text[0] is the compression method, always 0 (zlib)
    return text.decode("latin-1")


def _inflate(compressed: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(compressed, MAX_INFLATED_TEXT)
    except zlib.error as error:
        raise ValueError("Corrupt PNG image: a compressed text chunk does not inflate.") from error
    if inflater.unconsumed_tail:
        raise ValueError(f"A compressed PNG text chunk inflates past {MAX_INFLATED_TEXT} bytes.")
    return text


# SVG ---------------------------------------------------------------------------------------------------


def bake_svg(svg: str, *, ob2_assertion: dict | None = None, ob3_jwt: str | None = None) -> str:
    """Return `svg` carrying exactly the payloads given; any badge data baked into it before is removed.

    OB 2.0: `<openbadges:assertion verify="{assertion id}">` with the assertion JSON in CDATA.
    OB 3.0: `<openbadges:credential verify="{compact JWS}">` — §5.3.2 puts a VC-JWT in `verify` and
    keeps the body for embedded-proof JSON. The rest of the document is kept byte for byte, except a
    non-UTF-8 encoding declaration, rewritten to UTF-8 since the text returned is stored as UTF-8.
    """
    if ob2_assertion is None and ob3_jwt is None:
        raise ValueError("Nothing to bake: give an OB 2.0 assertion, an OB 3.0 VC-JWT, or both.")
    elements: list[str] = []
    if ob2_assertion is not None:
        elements.append(
            f"<openbadges:assertion verify={quoteattr(_hosted_assertion_url(ob2_assertion))}>"
            f"{_cdata(_json_for_cdata(ob2_assertion))}</openbadges:assertion>"
        )
    if ob3_jwt is not None:
        if not _COMPACT_JWS.fullmatch(ob3_jwt):
            raise ValueError("The OB 3.0 credential to bake must be a VC-JWT compact string (header.payload.sig).")
        # With a 2.0 assertion alongside, the root's `openbadges` prefix means 2.0: re-declare it here.
        declaration = f' xmlns:openbadges="{OB3_NAMESPACE}"' if ob2_assertion is not None else ""
        elements.append(f"<openbadges:credential{declaration} verify={quoteattr(ob3_jwt)}></openbadges:credential>")
    root_namespace = OB2_NAMESPACE if ob2_assertion is not None else OB3_NAMESPACE

    raw = _utf8_declared(svg).encode("utf-8")
    layout = _parse_svg(raw)
    root_tag = raw[layout.root_start : layout.root_tag_end]
    is_self_closing = root_tag.endswith(b"/>")
    root_tag = _without_attribute(root_tag, b"xmlns:openbadges")
    opening = root_tag[: -2 if is_self_closing else -1] + f' xmlns:openbadges="{root_namespace}">'.encode()
    pieces = [raw[: layout.root_start], opening, "".join(elements).encode("utf-8")]
    if is_self_closing:
        pieces.append(b"</" + _TAG_NAME.match(root_tag).group(1) + b">")
    position = layout.root_tag_end
    for start, end in layout.baked_spans:
        pieces.append(raw[position:start])
        position = end
    pieces.append(raw[position:])
    return b"".join(pieces).decode("utf-8")


def unbake_svg(svg: str) -> dict:
    """The badge data baked into `svg`: `{"ob2": …, "ob2_verify": …, "ob3": …}`, each None when absent.

    `ob2` is the assertion text in the first `<openbadges:assertion>` body and `ob2_verify` its `verify`
    (the hosted assertion URL, or a 2.0 JWS); `ob3` is the first `<openbadges:credential>`'s `verify`
    (a VC-JWT) or, failing that, its body (the JSON of an embedded-proof credential).
    """
    root = _parse_svg(_utf8_declared(svg).encode("utf-8")).root
    assertion = next(root.iter(_OB2_TAG), None)
    credential = next((element for element in root.iter() if element.tag in _OB3_TAGS), None)
    return {
        "ob2": _body(assertion),
        "ob2_verify": assertion.get("verify") if assertion is not None else None,
        "ob3": (credential.get("verify") or _body(credential)) if credential is not None else None,
    }


def _body(element: Element | None) -> str | None:
    text = "".join(element.itertext()).strip() if element is not None else ""
    return text or None


def _hosted_assertion_url(assertion: dict) -> str:
    """OB 2.0 Baking, SVGs: `verify` holds the URL of the hosted assertion, which is its `id`."""
    url = assertion.get("id")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ValueError("An OB 2.0 hosted assertion needs its HTTP(S) URL as `id` to bake into an SVG.")
    return url


def _json_for_cdata(value: dict) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return _NOT_FOR_CDATA.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _cdata(text: str) -> str:
    # Any "]]>" is split across two sections so none can close the first early.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _utf8_declared(svg: str) -> str:
    if not isinstance(svg, str):
        raise TypeError("The SVG image must be given as text (str), not bytes.")
    match = _XML_ENCODING.match(svg)
    if match and match.group(3).lower().replace("_", "-") not in {"utf-8", "utf8"}:
        return svg[: match.start(3)] + "UTF-8" + svg[match.end(3) :]
    return svg


@dataclass
class _SvgLayout:
    """A parsed SVG and where, in its UTF-8 bytes, its root start tag and any baked elements are."""

    root: Element | None = None
    root_start: int = -1
    root_tag_end: int = -1
    baked_spans: list[tuple[int, int]] = field(default_factory=list)


class _LayoutTarget:
    """An ElementTree parser target that also records the byte offsets of the tags it is told about."""

    def __init__(self) -> None:
        self.builder = TreeBuilder()
        self.layout = _SvgLayout()
        self.expat = None  # the parser's expat object, set before feeding
        self.raw = b""
        self.open: list[tuple[str, int, bool]] = []  # tag, start offset, is a baked element to remove
        self.removing = 0

    def start(self, tag: str, attributes: dict) -> Element:
        start = self.expat.CurrentByteIndex
        tag_end = _TAG_REST.match(self.raw, start).end()
        if self.layout.root_start < 0:
            self.layout.root_start, self.layout.root_tag_end = start, tag_end
        is_baked = tag == _OB2_TAG or tag in _OB3_TAGS
        if is_baked and not self.removing and self.raw[tag_end - 2 : tag_end] == b"/>":
            self.layout.baked_spans.append((start, tag_end))  # an empty-element tag is its whole span
            is_baked = False
        self.removing += is_baked
        self.open.append((tag, start, is_baked))
        return self.builder.start(tag, attributes)

    def end(self, tag: str) -> Element:
        _tag, start, is_baked = self.open.pop()
        if is_baked:
            self.removing -= 1
            if not self.removing:
                end_tag_start = self.expat.CurrentByteIndex
                self.layout.baked_spans.append((start, _TAG_REST.match(self.raw, end_tag_start).end()))
        return self.builder.end(tag)

    def data(self, text: str) -> None:
        self.builder.data(text)

    def close(self) -> Element:
        return self.builder.close()


def _parse_svg(raw: bytes) -> _SvgLayout:
    """Parse with defusedxml: entity declarations (billion laughs) and external entities (XXE) are refused."""
    target = _LayoutTarget()
    parser = SafeElementTree.DefusedXMLParser(target=target)
    target.expat, target.raw = parser.parser, raw
    try:
        parser.feed(raw)
        root = parser.close()
    except DefusedXmlException as error:
        raise ValueError(f"Refused SVG image: it declares entities ({type(error).__name__}).") from error
    except SafeElementTree.ParseError as error:
        raise ValueError(f"Not a well-formed SVG image: {error}.") from error
    if root.tag not in _SVG_ROOT_TAGS:
        raise ValueError(f"Not an SVG image: its root element is {root.tag!r}, not svg.")
    target.layout.root = root
    return target.layout


def _without_attribute(tag: bytes, name: bytes) -> bytes:
    """`tag` (a well-formed start tag) less the attribute `name`; walks attributes in order, so exact."""
    position = _TAG_NAME.match(tag).end()
    pieces = [tag[:position]]
    while attribute := _ATTRIBUTE.match(tag, position):
        if attribute.group(1) != name:
            pieces.append(attribute.group(0))
        position = attribute.end()
    pieces.append(tag[position:])
    return b"".join(pieces)
