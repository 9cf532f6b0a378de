"""Headers on every response: a Content-Security-Policy on pages, no sniffing, no referrer leaks.

Who may frame a page (CSP `frame-ancestors`) is decided per response: the tool itself, plus the origins that the
code handling the request allowed with `allow_framing_by` — the platform named by a login or launch, the platform
of the launch this page belongs to, the LMS running a Dynamic Registration, or any site for the badge's embed card.
A page outside all of these may be framed by the tool alone."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask, current_app, g, request

ANY_SITE = "*"
# No inline script, no inline handler, no `javascript:` URL, no plugin, no <base> rewriting the page's links; scripts
# talk to the tool alone. Styles stay open to inline <style> blocks and attributes (they run nothing).
PAGE_POLICY = "script-src 'self'; object-src 'none'; base-uri 'none'; connect-src 'self'"

FrameOrigins = Iterable[str] | Callable[[], Iterable[str]]


def allow_framing_by(origins: FrameOrigins) -> None:
    """This request's page may be framed by these origins (besides the tool itself), or by any site (`"*"`).

    A callable is only asked when the response is a page that needs the answer (a redirect costs nothing)."""
    g.frame_origins = origins


def _allowed_origins() -> list[str]:
    origins = g.get("frame_origins")
    if origins is None:
        origins = _launch_frame_origins()
    elif callable(origins):
        origins = origins()
    return sorted(set(origins or ()))


def _launch_frame_origins() -> Iterable[str]:
    """The platform of the launch this request belongs to (`g.lti_launch`, set by `lti.launch_context`), when the
    check of its reference did not already allow it (`allow_framing_by`, free: the registration is loaded there)."""
    launch = g.get("lti_launch")
    if launch is None:
        return ()
    try:  # 1–2 queries: the session's identity map holds no strong reference to what the check loaded
        deployment = launch.deployment
        return deployment.registration.frame_origins if deployment is not None else ()
    except Exception:  # noqa: BLE001  a failing database (a 500 page) must not fail the headers: the tool alone
        current_app.logger.warning("frame-ancestors: the launch's platform could not be read", exc_info=True)
        return ()


def frame_ancestors() -> str:
    """The CSP `frame-ancestors` directive of this response."""
    origins = _allowed_origins()
    if ANY_SITE in origins:
        return f"frame-ancestors {ANY_SITE}"
    extra = current_app.config.get("EXTRA_FRAME_ANCESTORS") or ()
    return "frame-ancestors " + " ".join(["'self'", *origins, *[o for o in extra if o not in origins]])


def page_policy() -> str:
    """The Content-Security-Policy of an HTML page."""
    return f"{PAGE_POLICY}; {frame_ancestors()}"


def init_app(app: Flask) -> None:
    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Launch references travel in URLs (no third-party cookies): never leak them through Referer.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "text/html" and "Content-Security-Policy" not in response.headers:
            response.headers["Content-Security-Policy"] = page_policy()
        if request.path.startswith("/lti/") and request.method == "POST":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
