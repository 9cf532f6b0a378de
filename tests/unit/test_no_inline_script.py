"""Every template runs script only from files (CSP `script-src 'self'`): no inline <script> (a data block of
type application/json is not script), no inline event handler, no `javascript:` URL."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href", "poster", "background"}
JINJA = re.compile(r"{%.*?%}|{#.*?#}", re.S)  # statements and comments; {{ expressions }} stay as text


class _InlineScriptFinder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._open_script: tuple[int, bool] | None = None  # (line, has a src)
        self._script_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        line = self.getpos()[0]
        values = {name.lower(): (value or "") for name, value in attrs}
        for name, value in values.items():
            if name.startswith("on"):
                self.found.append(f"line {line}: inline event handler {name}= on <{tag}>")
            if name in URL_ATTRIBUTES and re.sub(r"[\s\x00-\x1f]", "", value).lower().startswith("javascript:"):
                self.found.append(f"line {line}: javascript: URL in {name}= on <{tag}>")
        if tag == "script":
            kind = values.get("type", "").strip().lower()
            if kind == "application/json":
                return
            self._open_script = (line, "src" in values)
            self._script_text = []

    def handle_data(self, data):
        if self._open_script is not None:
            self._script_text.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._open_script is not None:
            line, has_src = self._open_script
            if not has_src:
                self.found.append(f"line {line}: inline <script> without src")
            elif "".join(self._script_text).strip():
                self.found.append(f"line {line}: <script src> with inline code too")
            self._open_script = None


def inline_scripts(html: str) -> list[str]:
    finder = _InlineScriptFinder()
    finder.feed(JINJA.sub(lambda m: "\n" * m.group(0).count("\n"), html))  # keep the line numbers
    finder.close()
    return finder.found


def test_no_template_runs_inline_script():
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert len(templates) > 50
    found = [f"{path.relative_to(ROOT)} {problem}" for path in templates
             for problem in inline_scripts(path.read_text(encoding="utf-8"))]
    assert not found, "scripts must be static files (asset_url), data in data- attributes or JSON blocks:\n" + \
        "\n".join(found)


def test_the_finder_sees_each_kind_of_inline_script():
    assert inline_scripts('<script>alert(1)</script>') == ["line 1: inline <script> without src"]
    assert inline_scripts('<script type="module">x()</script>')
    assert inline_scripts('<script src="/a.js">x()</script>')
    assert inline_scripts('<body onload="go()">') and inline_scripts('<button ONCLICK="go()">')
    assert inline_scripts('<a href=" JavaScript:go()">') and inline_scripts('<form action="javascript:go()">')
    assert inline_scripts('<a href="java\tscript:go()">')
    assert inline_scripts('<input type="radio"{% if x %} checked{% endif %} onchange="go()">')
    assert not inline_scripts('<script src="{{ asset_url(\'js/a.js\') }}"></script>')
    assert not inline_scripts('<script type="application/json" id="d">{{ data|tojson }}</script>')
    assert not inline_scripts('<a href="{{ url }}" data-on="x">one</a>')
