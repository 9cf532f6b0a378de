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
        kwargs.setdefault("timeout", 10)
        response = self.session.request(method, url, **kwargs)
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

    def submit_form(self, response: requests.Response, index: int = 0, follow: bool = True,
                    **values) -> requests.Response:
        """Submit a form of a page as a browser would, with some fields changed."""
        form = forms_in(response.text)[index]
        fields = {**form["fields"], **values}
        action = urljoin(response.url, form["action"]) if form["action"] else response.url
        if form["method"].lower() == "post":
            return self.post(action, data=fields, allow_redirects=follow)
        return self.get(action, params=fields, allow_redirects=follow)
