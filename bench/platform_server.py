"""The independent test platform, served in-process on loopback, counting every request it receives."""

from __future__ import annotations

import logging
import threading
from collections import Counter

from werkzeug.serving import make_server

from tests.platform.platform import TestPlatform, create_platform_app

# The browser (this benchmark) asks the platform for /auth; anything else comes from the tool.
BROWSER_PATHS = frozenset({"/auth"})


class RequestCounter:
    """WSGI middleware: counts requests per path (the platform app itself stays untouched)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self.paths: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.paths[environ.get("PATH_INFO", "")] += 1
        return self.wsgi_app(environ, start_response)

    def snapshot(self) -> Counter[str]:
        with self.lock:
            return Counter(self.paths)

    @staticmethod
    def outbound(paths: Counter[str]) -> Counter[str]:
        """The requests that the tool made (every path but the browser's)."""
        return Counter({path: n for path, n in paths.items() if path not in BROWSER_PATHS and n > 0})


class PlatformServer:
    """TestPlatform over real HTTP (threaded werkzeug) on 127.0.0.1."""

    def __init__(self, tool_url: str):
        self.platform = TestPlatform()
        app = create_platform_app(self.platform)
        _mount_services(app, self.platform)
        self.counter = RequestCounter(app.wsgi_app)
        app.wsgi_app = self.counter
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.platform.base_url = self.url
        self.platform.tool_login_url = tool_url + "/lti/login"
        self.platform.tool_launch_url = tool_url + "/lti/launch"
        self.platform.tool_jwks_url = tool_url + "/lti/jwks"
        services = getattr(self.platform, "services", None)
        if services is not None:  # mounted before the port was known: the URLs its answers name, the tool's keys
            services.base_url = self.url
            services.tool_jwks_url = self.platform.tool_jwks_url
        self.thread = threading.Thread(target=self.server.serve_forever, name="platform", daemon=True)

    def start(self) -> PlatformServer:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on the console
        self.thread.start()
        return self

    @property
    def token_requests(self) -> int:
        """Access tokens the platform's token endpoint granted (the tool should cache them: 1 per scope set)."""
        services = getattr(self.platform, "services", None)
        return len(services.token_requests) if services is not None else self.counter.snapshot()["/token"]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _mount_services(app, platform) -> None:
    """Token, AGS and NRPS endpoints too, so that any call the tool makes is answered (and counted)."""
    try:
        from tests.platform.fixtures import mount_services
    except ImportError:  # pragma: no cover
        return
    mount_services(app, platform)
