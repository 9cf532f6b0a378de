"""Settings classes (Base, Development, Testing, Production) and their environment overrides.

Nothing here reads the environment at import time: `create_app` calls `settings_from_environment`.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Base:
    """Defaults shared by every environment: the embedded shape (SQLite, local files, no services)."""

    ENV_NAME = "base"
    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None  # None: SQLite in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    REDIS_URL: str | None = None
    CACHE_DIR: str | None = None  # None: <instance>/cache
    CACHE_DEFAULT_TIMEOUT = 3600
    # Chosen by create_app: RedisCache at CACHE_REDIS_URL (= REDIS_URL) when REDIS_URL is set, else FileSystemCache.
    CACHE_TYPE: str | None = None
    CACHE_REDIS_URL: str | None = None
    CACHE_KEY_PREFIX = "mcb:"  # Redis keys; the filesystem cache has none
    CACHE_THRESHOLD = 0  # no item count for the filesystem cache (counting rewrites a file on every set)

    # LTI
    LTI_KEYS_DIR = str(PROJECT_ROOT / "keys")
    LTI_GENERATE_KEYS = True  # generate a key pair on first start when keys/ is empty
    LTI_TOOL_NAME = "Micro-Credential Bridge"
    LTI_TOOL_DESCRIPTION = "Earn portfolio-based educator micro-credentials inside your course."
    LTI_CLOCK_SKEW_SECONDS = 5  # leeway for exp/iat between LMS and tool clocks
    LTI_REFERENCE_MAX_AGE = 600  # a launch reference (ltik) not bound to a browser: renewed by its page
    LTI_SESSION_MAX_AGE = 8 * 3600  # a launch session, from the launch; then the LMS launches again
    LTI_DOWNLOAD_URL_MAX_AGE = 300  # a link to one artifact file (submissions/file_links.py), issued by its page
    LTI_STATE_MAX_AGE = 600  # OIDC state and nonce lifetime between login and launch
    # A used nonce is remembered LTI_STATE_MAX_AGE: it is accepted only with its login's state entry, which dies then.
    LTI_REGISTRATION_CACHE_SECONDS = 10  # registrations and deployments kept per process (lti.tool_conf)
    LTI_IDENTITY_FRESH_SECONDS = 600  # a launch whose claims were recorded this recently skips the upserts
    LTI_JWKS_CACHE_SECONDS = 24 * 3600
    LTI_JWKS_REFETCH_MIN_INTERVAL = 60  # unknown kids refetch a platform's JWKS at most BURST times per interval
    LTI_JWKS_REFETCH_BURST = 3
    LTI_HTTP_TIMEOUT = (5, 20)  # (connect, read) seconds for every call to an LMS
    LTI_REGISTRATION_OPEN = False  # Development opens /lti/register; Production needs an invite
    LTI_CONTACT_EMAIL = ""
    BASE_URL: str | None = None  # the public https origin behind a proxy; else taken from the request
    EXTRA_FRAME_ANCESTORS: tuple[str, ...] = ()  # origins that may frame every page (besides its own platform)

    # Catalog
    CATALOG_FILE = str(PROJECT_ROOT / "config" / "catalog.yaml")

    # Uploads: local disk by default (lti_tool/core/storage.py says how another backend plugs in)
    STORAGE_BACKEND = "local"  # or "s3": S3-compatible object storage (lti_tool/core/s3_storage.py)
    UPLOAD_DIR: str | None = None  # None: <instance>/uploads
    S3_ENDPOINT_URL: str | None = None  # None: AWS itself; else MinIO, Ceph, moto… (http(s)://host:port)
    S3_BUCKET: str | None = None  # required with STORAGE_BACKEND=s3 (the app refuses to start without it)
    S3_REGION = "us-east-1"
    S3_ACCESS_KEY_ID: str | None = None  # None: boto3's own chain (instance role, ~/.aws, AWS_* variables)
    S3_SECRET_ACCESS_KEY: str | None = None
    S3_ADDRESSING_STYLE: str | None = None  # "path" | "virtual"; None: path with an endpoint URL, else virtual
    STORAGE_URL_LIFETIME = 300  # seconds a presigned download or playback URL lives
    S3_PART_SIZE = 8 * 1024 * 1024  # one multipart part, held in memory while uploading (S3's minimum is 5 MiB)
    S3_CONNECT_TIMEOUT = 3  # seconds; with S3_READ_TIMEOUT and S3_MAX_ATTEMPTS, how long a request may hang on a
    S3_READ_TIMEOUT = 15  # bucket that does not answer (keep attempts x (connect + read) under GUNICORN_TIMEOUT)
    S3_MAX_ATTEMPTS = 2  # tries per S3 request (/readyz tries once, with S3_CONNECT_TIMEOUT for both timeouts)
    UPLOAD_MAX_BYTES_VIDEO = 1024 * 1024 * 1024  # video and audio files
    UPLOAD_MAX_BYTES_OTHER = 50 * 1024 * 1024  # documents and images

    # Outbox
    OUTBOX_RUN_IN_THREAD = False
    OUTBOX_POLL_SECONDS = 2.0
    OUTBOX_MAX_ATTEMPTS = 12
    OUTBOX_BACKOFF_BASE_SECONDS = 5.0
    OUTBOX_BACKOFF_MAX_SECONDS = 3600.0
    OUTBOX_BATCH_SIZE = 40
    OUTBOX_SEND_THREADS = 4  # messages of one batch sent side by side (never two of one person and activity)
    # A claimed message is a worker's own this long; the worker's heartbeat renews it while its HTTP calls run, so a
    # worker killed mid-send holds a person's later scores back for one lease at most (gradebook.worker.LeaseKeeper).
    OUTBOX_LEASE_SECONDS = 30.0
    # A platform's 401/403 (a rotated key, a registration switched off) is retried with backoff this long after the
    # score's first attempt (or an admin's retry), whatever OUTBOX_MAX_ATTEMPTS says; then it waits for an admin.
    OUTBOX_REFUSED_RETRY_SECONDS = 3 * 24 * 3600.0
    # A platform refusing the tool itself (401/403 from its token endpoint, 401 with a fresh token) is remembered this
    # long per registration: the other calls meanwhile get the same answer without asking (lti.access_tokens).
    LTI_REFUSAL_MEMORY_SECONDS = 30.0

    # Mail: queued in the database (lti_tool/mail/outbox.py), sent by the outbox worker
    MAIL_BACKEND = "file"  # "file": <instance>/mail/*.eml (development, tests); "smtp": MAIL_SMTP_* (production)
    MAIL_FROM = "Micro-Credential Bridge <no-reply@localhost>"
    MAIL_SMTP_HOST = "localhost"
    MAIL_SMTP_PORT = 587
    MAIL_SMTP_TIMEOUT = 30.0  # seconds for each step of the SMTP conversation
    MAIL_SMTP_STARTTLS = True  # never sends the login or a message in plain text unless switched off
    MAIL_SMTP_TLS_VERIFY = True  # False only for a test server with a self-signed certificate
    MAIL_SMTP_USERNAME: str | None = None  # login only when set
    MAIL_SMTP_PASSWORD: str | None = None  # from the environment, never a file in the repository
    MAIL_MAX_ATTEMPTS = 20  # then the email fails and waits for an admin's Retry
    MAIL_BACKOFF_BASE_SECONDS = 30.0  # doubled after each failed attempt ...
    MAIL_BACKOFF_MAX_SECONDS = 3600.0  # ... up to this
    MAIL_BATCH_SIZE = 20
    MAIL_LEASE_SECONDS: float | None = None  # None: from MAIL_SMTP_TIMEOUT (mail.outbox.lease_seconds)

    # Assessment
    ASSESSMENT_DUE_BUSINESS_DAYS = 14  # the assessment target: business days after submission
    ASSESSMENT_HOLIDAYS: list = []  # ISO dates skipped besides weekends (env: comma-separated)
    ASSESSMENT_CLAIM_MINUTES = 120  # an opened submission stays the assessor's own this long after each save
    ASSESSOR_ACTIVE_DAYS = 60  # a resubmission returns to its assessor if they launched the tool this recently
    ASSESSMENT_QUEUE_PAGE_SIZE = 50
    REPORT_PAGE_SIZE = 50  # rows per page of the report's follow-up list and badges (the CSV exports have all)

    DEMO_ENABLED = False
    # How many proxies (nginx, a load balancer) stand in front of the app: their X-Forwarded-For and -Proto are
    # read, X-Forwarded-Host never (BASE_URL names the public origin). 0: no X-Forwarded-* header is read.
    TRUSTED_PROXY_COUNT = 0

    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_SAMESITE = "None"
    PREFERRED_URL_SCHEME = "http"
    MAX_CONTENT_LENGTH = 64 * 1024 * 1024
    # No CSRF cookie: forms are protected by the signed launch reference they carry (lti/launch_context.py).


class Development(Base):
    """`make run`: one process, embedded services, the demo LMS, open registration."""

    ENV_NAME = "development"
    DEMO_ENABLED = True
    LTI_REGISTRATION_OPEN = True
    OUTBOX_RUN_IN_THREAD = True


class Testing(Base):
    """The test suite: the same code paths, short timeouts, keys in a temporary folder."""

    ENV_NAME = "testing"
    TESTING = True
    LTI_REGISTRATION_OPEN = True
    LTI_HTTP_TIMEOUT = (2, 5)
    OUTBOX_BACKOFF_BASE_SECONDS = 0.05
    OUTBOX_BACKOFF_MAX_SECONDS = 1.0
    OUTBOX_SEND_THREADS = 1  # one at a time, so that a test's injected LMS failure meets a known message
    LTI_REFUSAL_MEMORY_SECONDS = 0.5  # a round's calls, not the next rounds' (tests switch refusals off and on)


class Production(Base):
    """gunicorn behind HTTPS: PostgreSQL, Redis, the worker as its own process, secrets from the environment."""

    ENV_NAME = "production"
    PREFERRED_URL_SCHEME = "https"
    TRUSTED_PROXY_COUNT = 1  # nginx in front of gunicorn (deploy/nginx.conf); set it to your number of hops
    LTI_GENERATE_KEYS = False
    MAIL_BACKEND = "smtp"


CONFIGS = {cls.ENV_NAME: cls for cls in (Development, Testing, Production)}


def config_for(name: str | None) -> type[Base]:
    """The settings class for an environment name; none given means production, the safe default.

    `make run` and `make test` say `APP_ENV=development` / testing themselves, so a server started without
    APP_ENV never runs the demo LMS or open Dynamic Registration by accident.
    """
    try:
        return CONFIGS[(name or "production").lower()]
    except KeyError:
        raise ValueError(f"Unknown APP_ENV {name!r}: choose one of {', '.join(CONFIGS)}") from None


# Environment variable -> (setting, converter). Documented in README.md, "Settings".
ENVIRONMENT_SETTINGS = {
    "SECRET_KEY": ("SECRET_KEY", str),
    "DATABASE_URL": ("SQLALCHEMY_DATABASE_URI", str),
    "REDIS_URL": ("REDIS_URL", str),
    "CACHE_DIR": ("CACHE_DIR", str),
    "LTI_KEYS_DIR": ("LTI_KEYS_DIR", str),
    "LTI_TOOL_NAME": ("LTI_TOOL_NAME", str),
    "LTI_CONTACT_EMAIL": ("LTI_CONTACT_EMAIL", str),
    "LTI_CLOCK_SKEW_SECONDS": ("LTI_CLOCK_SKEW_SECONDS", int),
    "LTI_REGISTRATION_OPEN": ("LTI_REGISTRATION_OPEN", lambda v: v.lower() in ("1", "true", "yes")),
    "BASE_URL": ("BASE_URL", str),
    "TRUSTED_PROXY_COUNT": ("TRUSTED_PROXY_COUNT", int),
    "CATALOG_FILE": ("CATALOG_FILE", str),
    "OUTBOX_RUN_IN_THREAD": ("OUTBOX_RUN_IN_THREAD", lambda v: v.lower() in ("1", "true", "yes")),
    "DEMO_ENABLED": ("DEMO_ENABLED", lambda v: v.lower() in ("1", "true", "yes")),
    "STORAGE_BACKEND": ("STORAGE_BACKEND", str),
    "UPLOAD_DIR": ("UPLOAD_DIR", str),
    "S3_ENDPOINT_URL": ("S3_ENDPOINT_URL", str),
    "S3_BUCKET": ("S3_BUCKET", str),
    "S3_REGION": ("S3_REGION", str),
    "S3_ACCESS_KEY_ID": ("S3_ACCESS_KEY_ID", str),
    "S3_SECRET_ACCESS_KEY": ("S3_SECRET_ACCESS_KEY", str),
    "S3_ADDRESSING_STYLE": ("S3_ADDRESSING_STYLE", str),
    "STORAGE_URL_LIFETIME": ("STORAGE_URL_LIFETIME", int),
    "S3_PART_SIZE": ("S3_PART_SIZE", int),
    "S3_CONNECT_TIMEOUT": ("S3_CONNECT_TIMEOUT", float),
    "S3_READ_TIMEOUT": ("S3_READ_TIMEOUT", float),
    "S3_MAX_ATTEMPTS": ("S3_MAX_ATTEMPTS", int),
    "UPLOAD_MAX_BYTES_VIDEO": ("UPLOAD_MAX_BYTES_VIDEO", int),
    "UPLOAD_MAX_BYTES_OTHER": ("UPLOAD_MAX_BYTES_OTHER", int),
    "OUTBOX_SEND_THREADS": ("OUTBOX_SEND_THREADS", int),
    "OUTBOX_BATCH_SIZE": ("OUTBOX_BATCH_SIZE", int),
    "OUTBOX_POLL_SECONDS": ("OUTBOX_POLL_SECONDS", float),
    "OUTBOX_LEASE_SECONDS": ("OUTBOX_LEASE_SECONDS", float),
    "OUTBOX_REFUSED_RETRY_SECONDS": ("OUTBOX_REFUSED_RETRY_SECONDS", float),
    "LTI_REFUSAL_MEMORY_SECONDS": ("LTI_REFUSAL_MEMORY_SECONDS", float),
    "MAIL_BACKEND": ("MAIL_BACKEND", str),
    "MAIL_FROM": ("MAIL_FROM", str),
    "MAIL_SMTP_HOST": ("MAIL_SMTP_HOST", str),
    "MAIL_SMTP_PORT": ("MAIL_SMTP_PORT", int),
    "MAIL_SMTP_TIMEOUT": ("MAIL_SMTP_TIMEOUT", float),
    "MAIL_SMTP_STARTTLS": ("MAIL_SMTP_STARTTLS", lambda v: v.lower() in ("1", "true", "yes")),
    "MAIL_SMTP_TLS_VERIFY": ("MAIL_SMTP_TLS_VERIFY", lambda v: v.lower() in ("1", "true", "yes")),
    "MAIL_SMTP_USERNAME": ("MAIL_SMTP_USERNAME", str),
    "MAIL_SMTP_PASSWORD": ("MAIL_SMTP_PASSWORD", str),
    "MAIL_MAX_ATTEMPTS": ("MAIL_MAX_ATTEMPTS", int),
    "ASSESSMENT_DUE_BUSINESS_DAYS": ("ASSESSMENT_DUE_BUSINESS_DAYS", int),
    "ASSESSMENT_HOLIDAYS": ("ASSESSMENT_HOLIDAYS", lambda v: [d.strip() for d in v.split(",") if d.strip()]),
    "ASSESSMENT_CLAIM_MINUTES": ("ASSESSMENT_CLAIM_MINUTES", int),
    "ASSESSOR_ACTIVE_DAYS": ("ASSESSOR_ACTIVE_DAYS", int),
}


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the common way (`postgres://`, `postgresql://`)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def settings_from_environment(environ: dict | None = None) -> dict:
    """The settings that the environment overrides, converted to their types."""
    environ = os.environ if environ is None else environ
    overrides = {}
    for variable, (setting, convert) in ENVIRONMENT_SETTINGS.items():
        value = environ.get(variable)
        if value not in (None, ""):
            overrides[setting] = convert(value)
    if "SQLALCHEMY_DATABASE_URI" in overrides:
        overrides["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(overrides["SQLALCHEMY_DATABASE_URI"])
    return overrides
