"""A scripted browser for HTTP-level launches: follows the LMS's login → authorization → launch dance.

`requests` drops cookies marked `Secure` on http://, and merges cookies into a fresh jar per request
(so a custom cookie policy is ignored). Chromium treats http://127.0.0.1 and localhost as secure
contexts, so after each response this browser clears the `secure` flag of loopback cookies — the
emulation lives here, in the test browser, never in the tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attributes.get("action") or "", "method": attributes.get("method") or "get",
                               "fields": {}, "id": attributes.get("id")})
        elif tag in ("input", "button") and self.forms and attributes.get("name"):
            if attributes.get("type") in ("checkbox", "radio") and "checked" not in attributes:
                return
            self.forms[-1]["fields"].setdefault(attributes["name"], attributes.get("value") or "")


def forms_in(html: str) -> list[dict]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class _FrameParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.frames: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "iframe" and attributes.get("src"):
            self.frames[attributes.get("id") or ""] = attributes["src"]


def frame_src(html: str, frame_id: str = "tool") -> str | None:
    """The `src` of an LMS page's iframe (the tool's frame, `iframe#tool`), or None."""
    parser = _FrameParser()
    parser.feed(html)
    return parser.frames.get(frame_id) or None  # attribute values come unescaped from the parser


@dataclass
class LaunchResult:
    """Where a launch ended: the final response and the launch reference (`ltik`) it carries."""

    response: requests.Response
    id_token: str | None
    state: str | None

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def text(self) -> str:
        return self.response.text

    @property
    def url(self) -> str:
        return self.response.url

    @property
    def ltik(self) -> str | None:
        return (parse_qs(urlsplit(self.response.url).query).get("ltik") or [None])[0]


class PlatformBrowser:
    """One person's browser, talking to the platform and the tool over real HTTP."""

    def __init__(self, platform):
        self.platform = platform
        self.session = requests.Session()

    def _loopback_cookies_are_secure_contexts(self) -> None:
        for cookie in self.session.cookies:
            if cookie.domain.split(":")[0] in ("127.0.0.1", "localhost", "localhost.local"):
                cookie.secure = False

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        """A request; redirects are followed one hop at a time, so each hop sends the cookies the last one set
        (`requests` would build the next hop's cookies before the loopback emulation could see them)."""
        kwargs.setdefault("timeout", 10)
        follow = kwargs.pop("allow_redirects", True)
        response = self._send(method, url, **kwargs)
        history = []
        while follow and response.is_redirect and len(history) < 30:
            history.append(response)
            location = urljoin(response.url, response.headers["Location"])
            if response.status_code in (307, 308):
                response = self._send(method, location, **{k: v for k, v in kwargs.items() if k != "params"})
            else:
                method = "GET"
                response = self._send("GET", location, timeout=kwargs["timeout"], headers=kwargs.get("headers"))
        response.history = history
        return response

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        response = self.session.request(method, url, allow_redirects=False, **kwargs)
        self._loopback_cookies_are_secure_contexts()
        return response

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> requests.Response:
        return self.request("POST", url, **kwargs)

    # -- the launch, step by step --------------------------------------------------------------------
    def start_login(self, login: dict, method: str = "GET") -> requests.Response:
        """Step 1: the LMS sends the browser to the tool's login URL (LTI 1.3 Core §5.1.1.1)."""
        if method == "POST":
            return self.post(self.platform.tool_login_url, data=login, allow_redirects=False)
        return self.get(self.platform.tool_login_url, params=login, allow_redirects=False)

    def authorize(self, login_response: requests.Response) -> tuple[str, str]:
        """Step 2: the browser follows the tool's redirect to the platform, which answers with an auto-post form."""
        assert login_response.status_code == 302, login_response.text[:500]
        answer = self.get(login_response.headers["Location"], allow_redirects=False)
        assert answer.status_code == 200, answer.text[:500]
        form = forms_in(answer.text)[0]
        return form["fields"]["id_token"], form["fields"]["state"]

    def post_launch(self, id_token: str, state: str | None, follow: bool = True, **extra) -> requests.Response:
        """Step 3: the auto-posted form reaches the tool's launch URL."""
        data = {"id_token": id_token, **extra}
        if state is not None:
            data["state"] = state
        return self.post(self.platform.tool_launch_url, data=data, allow_redirects=follow)

    def launch(self, **plan) -> LaunchResult:
        """A whole launch as the LMS drives it; `plan` says what the platform puts in the id_token."""
        login, _ = self.platform.next_launch(**plan)
        login_response = self.start_login(login)
        id_token, state = self.authorize(login_response)
        response = self.post_launch(id_token, state)
        return LaunchResult(response=response, id_token=id_token, state=state)

    def launch_from_lms_page(self, url: str) -> LaunchResult:
        """Open an LMS page that frames the tool (the activity page a return URL leads to) and run its launch."""
        page = self.get(url)
        assert page.status_code == 200, page.text[:500]
        login_url = frame_src(page.text)
        assert login_url, f"the LMS page {page.url} frames no tool"
        id_token, state = self.authorize(self.get(login_url, allow_redirects=False))
        response = self.post_launch(id_token, state)
        return LaunchResult(response=response, id_token=id_token, state=state)

    def submit_form(self, response: requests.Response, index: int = 0, follow: bool = True,
                    **values) -> requests.Response:
        """Submit a form of a page as a browser would, with some fields changed."""
        form = forms_in(response.text)[index]
        fields = {**form["fields"], **values}
        action = urljoin(response.url, form["action"]) if form["action"] else response.url
        if form["method"].lower() == "post":
            return self.post(action, data=fields, allow_redirects=follow)
        return self.get(action, params=fields, allow_redirects=follow)
