"""Which URLs a platform hands the tool become links (or form targets) on the tool's pages: one rule, used everywhere.

A launch's `launch_presentation.return_url` (LTI 1.3 Core §6.1.2) is the platform's to choose, but the tool renders
it: on the "not set up yet" page, on a failed launch's page (with `lti_errormsg`), on the fallback page of a launch
whose state cookie was dropped. A `javascript:` or `data:` URL there would run in the tool's origin or hand the
person to whatever page it names; a URL on another site would send them there looking like "your course".

`web_address` is the shape every such URL must have (an absolute http(s) URL with a host, nothing a browser reads
differently from Python: no white space or control character anywhere, no backslash, no user name in it).
`platform_link` adds where it may lead: an origin of the launching platform's registration (its issuer, its OIDC
authorization endpoint or its token endpoint: `models.platform_origins`), the origins that may frame the tool's
pages. What fails gives no link at all, and the page says in words how to get back.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from lti_tool.lti.models import origin_of

WEB_SCHEMES = ("http", "https")


def web_address(url: object) -> str | None:
    """The URL itself when it is a plain absolute http(s) address with a host, else None."""
    if not isinstance(url, str) or not url or len(url) > 4000:
        return None
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in url):
        return None  # browsers drop or reinterpret these (" javascript:", "java\tscript:", "https:\\\\evil")
    parts = urlsplit(url)
    if parts.scheme not in WEB_SCHEMES or not url.lower().startswith(parts.scheme + "://"):
        return None
    if not parts.hostname or "@" in parts.netloc:
        return None
    try:
        parts.port  # noqa: B018  (a malformed port raises)
    except ValueError:
        return None
    return url


def platform_link(url: object, registration) -> str | None:
    """The return URL as a link, only when it is a web address on an origin of the platform's registration
    (`registration`: a `Registration` or its cached record, anything with `frame_origins`; None gives no link)."""
    address = web_address(url)
    if address is None or registration is None:
        return None
    origin = origin_of(address)
    allowed = {o.lower() for o in registration.frame_origins}
    return address if origin is not None and origin.lower() in allowed else None


def launch_return_link(launch) -> str | None:
    """The way back to the course of a launch (a `LaunchContext`): its return URL when `platform_link` allows it."""
    if not launch.return_url:
        return None
    deployment = launch.deployment
    return platform_link(launch.return_url, deployment.registration if deployment is not None else None)
