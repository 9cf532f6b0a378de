"""Baking: PNG chunks and SVG elements as both Open Badges specs and 1EdTech's 2.0 validator read them."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from xml.etree.ElementTree import Element

import pytest
from defusedxml import ElementTree as SafeElementTree
from defusedxml.minidom import parseString as safe_minidom
from PIL import Image, PngImagePlugin

from lti_tool.badges.baking import (
    OB2_KEYWORD,
    OB2_NAMESPACE,
    OB3_KEYWORD,
    OB3_NAMESPACE,
    PNG_SIGNATURE,
    bake_png,
    bake_svg,
    unbake_png,
    unbake_svg,
)

ASSERTION = {
    "@context": "https://w3id.org/openbadges/v2",
    "id": "https://tool.example/ob/assertions/42",
    "type": "Assertion",
    "recipient": {"type": "email", "hashed": True, "identity": "sha256$abc"},
    "badge": "https://tool.example/ob/badges/7",
    "verification": {"type": "hosted"},
    "issuedOn": "2026-10-01T12:00:00+00:00",
    "evidence": [{"narrative": 'Said "a ]]> b" & <wrote> ‘café’ 🎓'}],
}
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL3Rvb2wuZXhhbXBsZSJ9.c2lnbmF0dXJl"
SVG = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" viewBox="0 0 40 40">'
    '<circle cx="20" cy="20" r="18" fill="teal"/><text x="4" y="24">Hi</text></svg>\n'
)


def make_png(info: PngImagePlugin.PngInfo | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (16, 16), (42, 122, 128, 255)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def chunks_of(png: bytes) -> list[tuple[bytes, bytes]]:
    found, position = [], len(PNG_SIGNATURE)
    while position < len(png):
        length, chunk_type = struct.unpack_from(">I4s", png, position)
        found.append((chunk_type, png[position + 8 : position + 8 + length]))
        position += 12 + length
    return found


def text_keywords(png: bytes) -> list[bytes]:
    return [data.split(b"\x00")[0] for kind, data in chunks_of(png) if kind in (b"iTXt", b"tEXt", b"zTXt")]


def opened(png: bytes) -> Image.Image:
    """Pillow checks every chunk's CRC while it opens and verifies a PNG."""
    Image.open(io.BytesIO(png)).verify()
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


# PNG ---------------------------------------------------------------------------------------------------


def test_png_round_trip_of_both_keywords_is_read_by_pillow():
    assertion_json = json.dumps(ASSERTION, ensure_ascii=False)
    baked = bake_png(make_png(), {OB2_KEYWORD: assertion_json, OB3_KEYWORD: JWT})

    assert unbake_png(baked, OB2_KEYWORD) == assertion_json
    assert unbake_png(baked, OB3_KEYWORD) == JWT
    image = opened(baked)
    assert image.text == {OB2_KEYWORD: assertion_json, OB3_KEYWORD: JWT}
    assert image.size == (16, 16)


def test_png_chunks_are_uncompressed_itxt_right_after_ihdr():
    baked = bake_png(make_png(), {OB2_KEYWORD: "{}"})

    kinds = [kind for kind, _data in chunks_of(baked)]
    assert kinds[:2] == [b"IHDR", b"iTXt"]
    # keyword, NUL, compression flag 0, method 0, empty language tag, NUL, empty translated keyword, NUL, text
    assert chunks_of(baked)[1][1] == b"openbadges\x00\x00\x00\x00\x00{}"


def test_png_pixels_and_other_chunks_are_copied_untouched():
    original = make_png()
    baked = bake_png(original, {OB3_KEYWORD: JWT})

    baked_chunk_length = 12 + len(b"openbadgecredential\x00\x00\x00\x00\x00") + len(JWT)
    assert baked[:33] + baked[33 + baked_chunk_length :] == original  # signature + IHDR is 33 bytes


@pytest.mark.parametrize(
    "add_existing",
    [
        pytest.param(lambda info: info.add_itxt(OB2_KEYWORD, "old itxt"), id="iTXt"),
        pytest.param(lambda info: info.add_itxt(OB2_KEYWORD, "old compressed", zip=True), id="compressed iTXt"),
        pytest.param(lambda info: info.add_text(OB2_KEYWORD, "https://old.example/a"), id="tEXt"),
        pytest.param(lambda info: info.add_text(OB2_KEYWORD, "old ztxt", zip=True), id="zTXt"),
    ],
)
def test_png_existing_chunk_with_the_keyword_is_replaced(add_existing):
    info = PngImagePlugin.PngInfo()
    add_existing(info)
    info.add_text("Software", "kept")

    baked = bake_png(make_png(info), {OB2_KEYWORD: "new"})

    assert text_keywords(baked).count(b"openbadges") == 1
    assert unbake_png(baked, OB2_KEYWORD) == "new"
    assert opened(baked).text == {OB2_KEYWORD: "new", "Software": "kept"}


def test_png_baking_twice_keeps_one_chunk_per_keyword():
    once = bake_png(make_png(), {OB2_KEYWORD: "first", OB3_KEYWORD: JWT})
    twice = bake_png(once, {OB2_KEYWORD: "second"})

    assert sorted(text_keywords(twice)) == [b"openbadgecredential", b"openbadges"]
    assert (unbake_png(twice, OB2_KEYWORD), unbake_png(twice, OB3_KEYWORD)) == ("second", JWT)


def test_png_unbake_reads_compressed_itxt_and_legacy_text_chunks():
    compressed = PngImagePlugin.PngInfo()
    compressed.add_itxt(OB3_KEYWORD, JWT, zip=True)
    legacy = PngImagePlugin.PngInfo()
    legacy.add_text(OB2_KEYWORD, "https://old.example/assertion.json")

    assert unbake_png(make_png(compressed), OB3_KEYWORD) == JWT
    assert unbake_png(make_png(legacy), OB2_KEYWORD) == "https://old.example/assertion.json"
    assert unbake_png(make_png(), OB2_KEYWORD) is None


def test_png_unbake_refuses_a_compressed_chunk_that_inflates_too_far():
    info = PngImagePlugin.PngInfo()
    info.add_itxt(OB2_KEYWORD, "a" * (2 * 1024 * 1024), zip=True)

    with pytest.raises(ValueError, match="inflates past"):
        unbake_png(make_png(info), OB2_KEYWORD)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"GIF89a" + b"\x00" * 40, "Not a PNG image", id="gif"),
        pytest.param(SVG.encode(), "Not a PNG image", id="svg"),
        pytest.param(b"", "Not a PNG image", id="empty"),
        pytest.param(PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR", "Truncated", id="truncated"),
    ],
)
def test_png_baking_refuses_what_is_not_a_png(data, message):
    with pytest.raises(ValueError, match=message):
        bake_png(data, {OB2_KEYWORD: "{}"})
    with pytest.raises(ValueError, match=message):
        unbake_png(data, OB2_KEYWORD)


def test_png_baking_refuses_a_bad_crc():
    original = bytearray(make_png())
    original[29] ^= 0xFF  # a byte of the IHDR chunk's CRC

    with pytest.raises(ValueError, match="CRC mismatch in the IHDR chunk"):
        bake_png(bytes(original), {OB2_KEYWORD: "{}"})


@pytest.mark.parametrize(
    ("keyword", "text"),
    [("", "x"), (" openbadges", "x"), ("open  badges", "x"), ("k" * 80, "x"), ("clé\x00", "x"), ("ok", "nul\x00")],
)
def test_png_baking_refuses_an_invalid_keyword_or_text(keyword, text):
    with pytest.raises(ValueError, match="keyword|NUL"):
        bake_png(make_png(), {keyword: text})


# SVG ---------------------------------------------------------------------------------------------------


def parsed(svg: str) -> Element:
    return SafeElementTree.fromstring(svg.encode("utf-8"))


def test_svg_carries_both_payloads_and_gives_them_back():
    baked = bake_svg(SVG, ob2_assertion=ASSERTION, ob3_jwt=JWT)

    data = unbake_svg(baked)
    assert json.loads(data["ob2"]) == ASSERTION
    assert data["ob2_verify"] == ASSERTION["id"]
    assert data["ob3"] == JWT


def test_svg_elements_are_first_and_namespaced_as_each_spec_says():
    root = parsed(bake_svg(SVG, ob2_assertion=ASSERTION, ob3_jwt=JWT))

    assertion, credential, *_image = list(root)
    assert assertion.tag == f"{{{OB2_NAMESPACE}}}assertion"
    assert assertion.get("verify") == ASSERTION["id"]
    assert credential.tag == f"{{{OB3_NAMESPACE}}}credential"
    assert credential.get("verify") == JWT  # OB 3.0 §5.3.2: a VC-JWT goes in `verify`, the body stays empty
    assert not (credential.text or "").strip()


def test_svg_is_found_the_way_the_2_0_validator_looks():
    # openbadges-bakery (1EdTech's 2.0 validator) takes the first element named literally "openbadges:assertion"
    # and prefers its `verify` over the CDATA body.
    document = safe_minidom(bake_svg(SVG, ob2_assertion=ASSERTION, ob3_jwt=JWT).encode("utf-8"))

    (assertion,) = document.getElementsByTagName("openbadges:assertion")
    assert assertion.getAttribute("verify") == ASSERTION["id"]
    cdata = [node.nodeValue for node in assertion.childNodes if node.nodeType == node.CDATA_SECTION_NODE]
    assert [json.loads(text) for text in cdata] == [ASSERTION]
    assert document.documentElement.getAttribute("xmlns:openbadges") == OB2_NAMESPACE
    (credential,) = document.getElementsByTagName("openbadges:credential")
    assert credential.namespaceURI == OB3_NAMESPACE


def test_svg_assertion_with_cdata_end_in_its_text_stays_one_cdata_section():
    baked = bake_svg(SVG, ob2_assertion={**ASSERTION, "name": "x]]>y]]]]>z"})

    assert baked.count("<![CDATA[") == 1
    assert baked.count("]]>") == 1
    assert json.loads(unbake_svg(baked)["ob2"])["name"] == "x]]>y]]]]>z"


def test_svg_only_ob3_uses_the_3_0_namespace_on_the_root():
    baked = bake_svg(SVG, ob3_jwt=JWT)

    assert f'xmlns:openbadges="{OB3_NAMESPACE}"' in baked.split(">", 2)[1]
    assert '<openbadges:credential verify="' + JWT + '"></openbadges:credential>' in baked
    assert unbake_svg(baked) == {"ob2": None, "ob2_verify": None, "ob3": JWT}


def test_svg_rebaking_replaces_what_was_baked_before():
    once = bake_svg(SVG, ob2_assertion=ASSERTION, ob3_jwt=JWT)
    other = {**ASSERTION, "id": "https://tool.example/ob/assertions/43"}

    again = bake_svg(once, ob2_assertion=other, ob3_jwt="a.b.c")
    only_ob3 = bake_svg(once, ob3_jwt="a.b.c")

    assert again == bake_svg(SVG, ob2_assertion=other, ob3_jwt="a.b.c")
    assert again.count("xmlns:openbadges=") == 2 and again.count("<openbadges:") == 2
    assert unbake_svg(only_ob3) == {"ob2": None, "ob2_verify": None, "ob3": "a.b.c"}
    assert only_ob3 == bake_svg(SVG, ob3_jwt="a.b.c")


def test_svg_image_is_otherwise_unchanged():
    baked = bake_svg(SVG, ob2_assertion=ASSERTION, ob3_jwt=JWT)

    head, _, _ = SVG.partition(">\n<svg")
    assert baked.startswith(head)
    assert baked.endswith('<circle cx="20" cy="20" r="18" fill="teal"/><text x="4" y="24">Hi</text></svg>\n')
    assert 'width="40" height="40" viewBox="0 0 40 40"' in baked


@pytest.mark.parametrize(
    "svg",
    [
        pytest.param('<svg xmlns="http://www.w3.org/2000/svg" width="4"/>', id="self-closing root"),
        pytest.param('<svg xmlns="http://www.w3.org/2000/svg" data-note="a>b" width="4"></svg>', id="> in attribute"),
        pytest.param(
            "<svg width='4' xmlns:openbadges='urn:old' xmlns='http://www.w3.org/2000/svg'></svg>", id="old prefix"
        ),
        pytest.param(
            '<?xml version="1.0" encoding="ISO-8859-1"?><svg xmlns="http://www.w3.org/2000/svg"><title>é</title></svg>',
            id="latin-1 declaration",
        ),
    ],
)
def test_svg_baking_handles_unusual_roots(svg):
    baked = bake_svg(svg, ob2_assertion=ASSERTION, ob3_jwt=JWT)

    root = parsed(baked)
    assert [child.tag for child in root][:2] == [f"{{{OB2_NAMESPACE}}}assertion", f"{{{OB3_NAMESPACE}}}credential"]
    assert unbake_svg(baked)["ob3"] == JWT
    assert "ISO-8859-1" not in baked


@pytest.mark.parametrize(
    "existing",
    [
        pytest.param('<openbadges:assertion verify="a.b.c"/>', id="self-closing, last child"),
        pytest.param(
            '<g><openbadges:assertion verify="https://old.example/1"><![CDATA[{}]]></openbadges:assertion></g>',
            id="nested",
        ),
        pytest.param(
            '<ob:credential xmlns:ob="https://purl.imsglobal.org/ob/v3p0" verify="x.y.z"><ob:x/></ob:credential>',
            id="other prefix, with a child",
        ),
    ],
)
def test_svg_rebaking_removes_elements_baked_by_others(existing):
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="http://openbadges.org">{existing}</svg>'

    baked = bake_svg(svg, ob3_jwt=JWT)

    assert unbake_svg(baked) == {"ob2": None, "ob2_verify": None, "ob3": JWT}
    assert baked.endswith("</openbadges:credential>" + ("<g></g></svg>" if existing.startswith("<g>") else "</svg>"))


def test_baking_is_cheap_enough_to_issue_in_bulk():
    # Issuing 1,000 badges (sign, bake both forms, store) has a 10 s budget; baking takes well under a second.
    png, started = make_png(), time.perf_counter()
    for number in range(200):
        assertion = {**ASSERTION, "id": f"https://tool.example/ob/assertions/{number}"}
        bake_png(png, {OB2_KEYWORD: json.dumps(assertion), OB3_KEYWORD: JWT})
        bake_svg(SVG, ob2_assertion=assertion, ob3_jwt=JWT)

    assert time.perf_counter() - started < 2


def test_svg_unbake_reads_the_specs_own_examples():
    ob2_example = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"\n'
        '     xmlns:openbadges="http://openbadges.org" viewBox="0 0 512 512">\n'
        '  <openbadges:assertion verify="https://example.org/assertions/123">\n    <![CDATA[\n'
        '       {"id": "https://example.org/assertions/123", "type": "Assertion"}\n    ]]>\n'
        "  </openbadges:assertion>\n</svg>"
    )
    ob3_example = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"\n'
        '  xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0" viewBox="0 0 512 512">\n'
        '  <openbadges:credential verify="header.payload.signature"></openbadges:credential>\n</svg>'
    )

    assert unbake_svg(ob2_example) == {
        "ob2": '{"id": "https://example.org/assertions/123", "type": "Assertion"}',
        "ob2_verify": "https://example.org/assertions/123",
        "ob3": None,
    }
    assert unbake_svg(ob3_example) == {"ob2": None, "ob2_verify": None, "ob3": "header.payload.signature"}
    assert unbake_svg(SVG) == {"ob2": None, "ob2_verify": None, "ob3": None}


XXE = (
    '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<svg xmlns="http://www.w3.org/2000/svg"><text>&xxe;</text></svg>'
)
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
    + ']><svg xmlns="http://www.w3.org/2000/svg"><text>&i;</text></svg>'
)


@pytest.mark.parametrize("svg", [pytest.param(XXE, id="xxe"), pytest.param(BILLION_LAUGHS, id="billion laughs")])
def test_svg_with_entity_declarations_is_refused(svg):
    with pytest.raises(ValueError, match="Refused SVG image"):
        bake_svg(svg, ob3_jwt=JWT)
    with pytest.raises(ValueError, match="Refused SVG image"):
        unbake_svg(svg)


def test_svg_with_a_doctype_but_no_entities_is_accepted():
    svg = (
        '<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg xmlns="http://www.w3.org/2000/svg"/>'
    )

    assert unbake_svg(bake_svg(svg, ob3_jwt=JWT))["ob3"] == JWT


@pytest.mark.parametrize(
    ("svg", "payload", "message"),
    [
        pytest.param("<html><body/></html>", {"ob3_jwt": JWT}, "root element is 'html'", id="not svg"),
        pytest.param('<svg xmlns="http://www.w3.org/2000/svg"><g></svg>', {"ob3_jwt": JWT}, "well-formed", id="broken"),
        pytest.param(SVG, {}, "Nothing to bake", id="nothing"),
        pytest.param(SVG, {"ob3_jwt": json.dumps(ASSERTION)}, "compact string", id="ob3 not a jwt"),
        pytest.param(SVG, {"ob2_assertion": {"type": "Assertion"}}, "URL as `id`", id="ob2 without url"),
    ],
)
def test_svg_baking_refuses_bad_input(svg, payload, message):
    with pytest.raises(ValueError, match=message):
        bake_svg(svg, **payload)


def test_svg_unbake_refuses_a_non_svg_root():
    with pytest.raises(ValueError, match="Not an SVG image"):
        unbake_svg('<?xml version="1.0"?><openbadges:assertion xmlns:openbadges="http://openbadges.org"/>')


def test_png_compressed_chunk_of_another_keyword_is_kept_when_baking():
    info = PngImagePlugin.PngInfo()
    info.add_itxt(OB3_KEYWORD, JWT, zip=True)
    baked = bake_png(make_png(info), {OB2_KEYWORD: "x"})

    assert unbake_png(baked, OB3_KEYWORD) == JWT
    assert zlib.crc32(b"IEND") == struct.unpack(">I", baked[-4:])[0]
