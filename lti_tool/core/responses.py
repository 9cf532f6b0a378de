"""Headers on every response: framing only by registered platforms, no sniffing, no referrer leaks."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask, current_app, request

from lti_tool.extensions import cache

FRAME_ORIGINS_CACHE_KEY = "frame-ancestors"

_frame_origins_provider: Callable[[], Iterable[str]] | None = None


def set_frame_origins_provider(provider: Callable[[], Iterable[str]]) -> None:
    """Who may frame the pages: `lti` gives the origins of its active registrations (at app start)."""
    global _frame_origins_provider
    _frame_origins_provider = provider


def registered_frame_origins() -> list[str]:
    """Origins of every active registration (cached briefly; a new registration clears it)."""
    origins = cache.get(FRAME_ORIGINS_CACHE_KEY)
    if origins is None:
        if _frame_origins_provider is None:
            return []
        origins = sorted(set(_frame_origins_provider()))
        cache.set(FRAME_ORIGINS_CACHE_KEY, origins, timeout=60)
    return origins


def forget_frame_origins() -> None:
    cache.delete(FRAME_ORIGINS_CACHE_KEY)


def frame_ancestors() -> str:
    """The CSP `frame-ancestors` directive: the tool itself and the registered platforms."""
    ancestors = ["'self'", *registered_frame_origins(), *current_app.config.get("EXTRA_FRAME_ANCESTORS", [])]
    return f"frame-ancestors {' '.join(ancestors)}"


def init_app(app: Flask) -> None:
    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Launch references travel in URLs (no third-party cookies): never leak them through Referer.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "text/html" and "Content-Security-Policy" not in response.headers:
            response.headers["Content-Security-Policy"] = frame_ancestors()
        if request.path.startswith("/lti/") and request.method == "POST":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
