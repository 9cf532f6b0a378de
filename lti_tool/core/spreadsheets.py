"""CSV for spreadsheets, by OWASP's CSV-injection rule: no cell a spreadsheet would run as a formula.

Every export of the tool (the progress view's, the organizations' reports) is written by `csv_text`, the one
place the rule lives (https://owasp.org/www-community/attacks/CSV_Injection):

- every cell is wrapped in double quotes and an embedded double quote is doubled, so a `,` or `;` inside a
  cell cannot start a new cell, whichever separator the spreadsheet picks;
- a cell that starts like a formula gets a leading single quote, so the spreadsheet shows it as text.

"Starts like a formula" is wider than the first character, because spreadsheets are lenient: `=`, `+`, `-`,
`@` (and their full-width and small forms, `＝` `＋` `－` `＠` `﹦` `﹢` `﹣` `﹫`, which some input methods
type and some spreadsheets read as the ASCII ones) after any leading whitespace; a cell that starts with a tab,
a carriage return or a line feed; and a cell where a field separator or a line break is followed by one of those
characters (`a;=1+2`), in case a program splits the cell there. The quote is the only change: the text a
person reads in the spreadsheet is the value with one `'` in front.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator

from flask import Response, stream_with_context
from werkzeug.utils import secure_filename

FORMULA_CHARACTERS = "=+-@" "\uff1d\uff0b\uff0d\uff20" "\ufe66\ufe62\ufe63\ufe6b"
LINE_BREAKS = "\t\r\n"
SEPARATORS = ",;\t\r\n"
# Characters that draw nothing before a formula: whitespace (str.isspace) and the zero-width ones.
_INVISIBLE = r"[\s\u200b\u200c\u200d\u2060\ufeff]*"
_STARTS_LIKE_A_FORMULA = re.compile(f"^{_INVISIBLE}[{re.escape(FORMULA_CHARACTERS)}]")
_FORMULA_AFTER_A_SEPARATOR = re.compile(f"[{re.escape(SEPARATORS)}]{_INVISIBLE}[{re.escape(FORMULA_CHARACTERS)}]")
NEUTRALISING_PREFIX = "'"


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet could read `text`, or a part of it split off at a separator, as a formula."""
    return bool(text.startswith(tuple(LINE_BREAKS)) or _STARTS_LIKE_A_FORMULA.match(text)
                or _FORMULA_AFTER_A_SEPARATOR.search(text))


def safe_cell(value) -> str:
    """The value as text; text that could run as a formula gets a leading single quote, so it stays text."""
    text = "" if value is None else str(value)
    return NEUTRALISING_PREFIX + text if is_formula_like(text) else text


def csv_text(header: Iterable, rows: Iterable[Iterable]) -> str:
    """A header and rows as CSV text: every cell through `safe_cell`, every cell quoted (OWASP's rule)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow([safe_cell(cell) for cell in header])
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue()


def csv_lines(header: Iterable, rows: Iterable[Iterable]) -> Iterator[str]:
    """The same CSV as `csv_text`, one line at a time: for exports streamed row by row with flat memory."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    for row in itertools.chain([header], rows):
        writer.writerow([safe_cell(cell) for cell in row])
        yield out.getvalue()
        out.seek(0)
        out.truncate()


CSV_CHUNK_CHARACTERS = 64 * 1024  # a streamed CSV leaves in pieces of about this size, not one write per line


def csv_stream_download(header: Iterable, rows: Iterable[Iterable], filename: str) -> Response:
    """`csv_download` for rows produced as they are read (a generator over a paged query): the response is
    streamed inside the request's context, its lines joined into pieces of about CSV_CHUNK_CHARACTERS (one write
    per line would cost a system call and an HTTP chunk each), so memory stays flat for a course of any size."""
    lines = itertools.chain(["\ufeff"], csv_lines(header, rows))
    return _download(stream_with_context(_joined(lines, CSV_CHUNK_CHARACTERS)), filename)


def _joined(lines: Iterable[str], size: int) -> Iterator[str]:
    """The lines, joined into pieces of at least `size` characters (the last one shorter)."""
    piece, length = [], 0
    for line in lines:
        piece.append(line)
        length += len(line)
        if length >= size:
            yield "".join(piece)
            piece, length = [], 0
    if piece:
        yield "".join(piece)


def csv_download(text: str, filename: str) -> Response:
    """CSV text as a download named `filename` (made safe), never cached: every export answers through here.

    A byte-order mark leads, so that spreadsheet programs read names with accents as UTF-8."""
    return _download("\ufeff" + text, filename)


def _download(body, filename: str) -> Response:
    name = secure_filename(filename) or "export.csv"
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
