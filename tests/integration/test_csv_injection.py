"""Every CSV export opened by a real spreadsheet engine: no cell becomes a formula (OWASP's CSV-injection rule).

Hostile text reaches the tool the way it would in life — educators' names and emails from the LMS roster (NRPS)
and from launches, the course's title from a launch — and every export is fetched through HTTP: the progress
view's (instructor), the report's figures, follow-up list and badges (admin). Each file is then opened by
LibreOffice Calc (headless, converting it to a flat ODF spreadsheet) with the separators a spreadsheet might pick
(`,`, `;`, or all of `,;` and tab), and the cells are read back: none is a formula, and each shows exactly the
value sent with one neutralising `'` in front.

LibreOffice is required when REQUIRE_LIBREOFFICE is set (CI); otherwise the test is skipped without `soffice`.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from defusedxml import ElementTree

from lti_tool.core.models import utcnow
from tests.badge_road import earn_badge
from tests.factories import bring_work_to
from tests.platform.platform import LTI, PEOPLE, ROLE, ROLES, Person

pytestmark = pytest.mark.usefixtures("running_term")

SLUG = "self-assessment-growth"
COURSE = "course-1"
ACTIVITY = "activity-1"

# Every way a cell can start like a formula: the ASCII triggers, each after a space or a tab, a leading tab or
# carriage return, the full-width and small forms, a trigger after a separator inside the text, an embedded quote.
HOSTILE = (
    "=1+2", "+1+2", "-1+2", "@SUM(1;2)", "\t=1+2", "\r=1+2", "\n=1+2", " =1+2", "\t+1+2", "  -1+2", " @SUM(1)",
    "\uff1d1+2", "\uff0b1+2", "\uff0d1+2", "\uff20SUM(1)", "\ufe661+2", "\u3000=1+2", "\u200b=1+2",
    "Ana;=1+2", "Ana,=1+2", "Ana; -1+2", '=1+2";=1+2', '=HYPERLINK("http://evil.example";"x")',
)
HOSTILE_COURSE = '-2+3 =HYPERLINK("http://evil.example")'
HOSTILE_EMAIL = "=cmd@evil.example"
BADGE_NAME = "+1+2 Badge"  # the educator who earns a badge, so the badges export carries a hostile name too


def _member(index: int, name: str) -> dict:
    return {"user_id": f"edu-hostile-{index}", "name": name, "given_name": name, "family_name": "",
            "email": f"{'@' if index % 2 else '-'}hostile{index}@evil.example", "roles": [ROLE + "Learner"],
            "status": "Active"}


ROSTER = [_member(i, name) for i, name in enumerate(HOSTILE)]


# -- the spreadsheet engine ---------------------------------------------------------------------------------------
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
NS = {"table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
      "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
      "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0"}
# LibreOffice's CSV import options: separators, text delimiter `"`, UTF-8 (76), start at row 1.
SEPARATORS = {"comma": "44", "semicolon": "59", "comma, semicolon and tab": "44/59/9"}

needs_libreoffice = pytest.mark.skipif(
    SOFFICE is None and not os.environ.get("REQUIRE_LIBREOFFICE"),
    reason="LibreOffice (soffice) is not installed; set REQUIRE_LIBREOFFICE=1 to make this a failure",
)


def _odf_text(element) -> str:
    """The text of an ODF paragraph as shown: `<text:s c=n>` is n spaces, `<text:tab>` a tab (ODF 1.3 §6.1)."""
    parts = [element.text or ""]
    for child in element:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "s":
            parts.append(" " * int(child.get(f"{{{NS['text']}}}c", "1")))
        elif tag == "tab":
            parts.append("\t")
        elif tag == "line-break":
            parts.append("\n")
        else:
            parts.append(_odf_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def open_in_spreadsheet(csv_bytes: bytes, tmp_path: Path, separators: str) -> list[list[tuple[str | None, str]]]:
    """The CSV as LibreOffice Calc reads it: for each cell, its formula (None for a value) and the text it shows."""
    assert SOFFICE, "REQUIRE_LIBREOFFICE is set but soffice is not installed"
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = tmp_path / "export.csv"
    source.write_bytes(csv_bytes)
    out = tmp_path / "out"
    profile = tmp_path / "lo-profile"  # a private profile: no first-start dialogs, no clash with another run
    subprocess.run(
        [SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
         f"--infilter=CSV:{separators},34,76,1", "--convert-to", "fods", "--outdir", str(out), str(source)],
        check=True, timeout=120, capture_output=True,
    )
    sheet = ElementTree.parse(out / "export.fods")
    rows = []
    for row in sheet.iter(f"{{{NS['table']}}}table-row"):
        cells = []
        for cell in row.findall("table:table-cell", NS):
            repeat = int(cell.get(f"{{{NS['table']}}}number-columns-repeated", "1"))
            shown = "\n".join(_odf_text(p) for p in cell.findall("text:p", NS))
            cells.extend([(cell.get(f"{{{NS['table']}}}formula"), shown)] * min(repeat, 50))
        while cells and cells[-1] == (None, ""):
            cells.pop()
        rows.append(cells)
    return [row for row in rows if row]


def shown_as_text(value: str) -> str:
    """What a cell holding `value` must show: the value with the neutralising quote (line breaks as LF)."""
    return "'" + value.replace("\r\n", "\n").replace("\r", "\n")


# -- the course -------------------------------------------------------------------------------------------------
@pytest.fixture
def exports(app, platform, browser, live_tool, monkeypatch):
    """The four exports of a course whose educators, course title and a badge earner carry hostile text."""
    monkeypatch.setitem(PEOPLE, "hostile", Person("user-hostile-badge", "+1+2", "Badge", HOSTILE_EMAIL))
    monkeypatch.setitem(ROLES, "hostile", ROLES["learner"])
    platform.services.add_members(COURSE, ROSTER)
    earn_badge(app, platform, person="hostile")

    page = browser.launch(person="instructor", custom={"microcredential": SLUG}, resource_link_id=ACTIVITY,
                          context_id=COURSE)
    assert page.status_code == 200, page.text[:500]
    assert browser.submit_form(page.response).status_code == 200  # read the roster from the LMS
    for member in ROSTER:
        bring_work_to(app, member["user_id"], "draft", utcnow(), course=COURSE, activity=ACTIVITY, slug=SLUG)
    progress = browser.get(live_tool.url + "/progress/export.csv", params={"ltik": page.ltik})

    context = {"id": COURSE, "label": "EDU-101", "title": HOSTILE_COURSE,
               "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"]}
    admin = browser.launch(person="admin", custom={"microcredential": SLUG}, resource_link_id=ACTIVITY,
                           context_id=COURSE, claims={LTI + "context": context})
    assert admin.status_code == 200, admin.text[:500]
    answers = {"progress": progress}
    for name, path in (("figures", "/admin/reports.csv"), ("follow-up", "/admin/reports/follow-up.csv"),
                       ("badges", "/admin/reports/badges.csv")):
        answers[name] = browser.get(live_tool.url + path, params={"ltik": admin.ltik})
    for name, answer in answers.items():
        assert answer.status_code == 200, (name, answer.text[:300])
        assert answer.headers["Content-Type"].startswith("text/csv")
    return {name: answer.content for name, answer in answers.items()}


# -- the tests --------------------------------------------------------------------------------------------------
@needs_libreoffice
@pytest.mark.parametrize("separators", list(SEPARATORS), ids=list(SEPARATORS))
def test_no_exported_cell_becomes_a_formula_in_a_spreadsheet(exports, tmp_path, separators):
    hostile_values = {*HOSTILE, HOSTILE_COURSE, HOSTILE_EMAIL, BADGE_NAME} | {m["email"] for m in ROSTER}
    seen = set()
    for name, content in exports.items():
        written = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
        sheet = open_in_spreadsheet(content, tmp_path / name, SEPARATORS[separators])
        formulas = [(name, cell) for row in sheet for cell in row if cell[0] is not None]
        assert formulas == [], formulas
        if separators != "semicolon":  # read with the file's own separator: one spreadsheet cell per CSV cell
            assert len(sheet) == len(written), name
            for sheet_row, csv_row in zip(sheet, written, strict=True):
                for (_, shown), cell in zip(sheet_row, csv_row, strict=False):
                    if cell.startswith("'"):  # a neutralised cell shows exactly what was written, quote and all
                        assert shown == cell.replace("\r\n", "\n").replace("\r", "\n"), (name, cell, shown)
        for row in written:
            for cell in row:
                if cell.startswith("'") and cell[1:] in hostile_values:
                    seen.add(cell[1:])
    # Every hostile value reached an export, and each was written with the one neutralising quote.
    assert seen == hostile_values


@needs_libreoffice
def test_the_spreadsheet_shows_each_hostile_value_with_only_the_quote_in_front(exports, tmp_path):
    shown = {text for row in open_in_spreadsheet(exports["progress"], tmp_path, SEPARATORS["comma"])
             for _, text in row}
    for value in HOSTILE:
        assert shown_as_text(value) in shown, value
    follow_up = {text for row in open_in_spreadsheet(exports["follow-up"], tmp_path / "f", SEPARATORS["comma"])
                 for _, text in row}
    assert shown_as_text(HOSTILE_COURSE) in follow_up
    badges = {text for row in open_in_spreadsheet(exports["badges"], tmp_path / "b", SEPARATORS["comma"])
              for _, text in row}
    assert {shown_as_text(BADGE_NAME), shown_as_text(HOSTILE_EMAIL)} <= badges


def test_every_cell_is_quoted_and_a_formula_start_never_leads_a_cell(exports):
    """The rule as written in the file (no spreadsheet needed): every cell quoted, embedded quotes doubled, and no
    cell starts — even after whitespace — with a formula character."""
    triggers = tuple("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b")
    for name, content in exports.items():
        text = content.decode("utf-8-sig")
        for row in csv.reader(io.StringIO(text, newline="")):
            for cell in row:
                assert not cell.lstrip(" \t\r\n\u3000\u200b").startswith(triggers), (name, cell)
        assert text.startswith('"'), name
        assert '=1+2"";=1+2' in text or name != "progress"  # the embedded quote doubled, inside a quoted cell
