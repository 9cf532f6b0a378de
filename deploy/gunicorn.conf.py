"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Read from the environment when gunicorn starts (not by the application): GUNICORN_BIND (or HOST and PORT),
WEB_CONCURRENCY, GUNICORN_TIMEOUT, FORWARDED_ALLOW_IPS.
"""

import multiprocessing
import os

from gunicorn import glogging

# Loopback by default: nginx (deploy/nginx.conf) terminates HTTPS in front of it.
bind = os.environ.get("GUNICORN_BIND") or f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"

# The usual sizing for synchronous workers; every worker is stateless, so any number is safe.
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"  # nginx buffers request bodies, so slow uploads never hold a worker

# The heartbeat file lives in memory: a disk-backed /tmp can stall workers into false timeouts.
worker_tmp_dir = "/dev/shm"  # noqa: S108  (tmpfs by design, not a temporary file)

# Calls to an LMS (AGS, NRPS, JWKS) are bounded by LTI_HTTP_TIMEOUT; this bounds the whole request.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5

# Recycle workers now and then so that slow leaks in any library cannot accumulate.
max_requests = 2000
max_requests_jitter = 200

# X-Forwarded-* headers are honoured only from the proxy on these addresses; the app then reads the client's address
# and scheme from TRUSTED_PROXY_COUNT hops (1 in production), never the host (that is BASE_URL).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Method and path only: query strings carry launch references, file links and OIDC parameters (bearer tokens),
# so `%(r)s`, `%(q)s` and the Referer never reach a log line.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms "%(a)s"'


class RedactingLogger(glogging.Logger):
    """gunicorn's logger, with every access and error line redacted (lti_tool/core/logs.py): gunicorn's own error
    lines name a failed request by its whole URI, and a token in a path (an old confirmation link) is cut out."""

    def setup(self, cfg):
        super().setup(cfg)
        from lti_tool.core.logs import add_redaction

        add_redaction(self.error_log)
        add_redaction(self.access_log)


logger_class = RedactingLogger
proc_name = "mcb-web"
