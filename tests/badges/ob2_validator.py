"""1EdTech's Open Badges 2.0 validator (PyPI ``openbadges==1.1.2``), run offline, for the tests.

The validator cannot live in the project's virtualenv: it pins ``jsonschema==2.6.0`` and ``click==6.7``
(the tool needs jsonschema 4 and Flask needs click 8). So it is installed, from ``requirements-ob2.txt``
(a complete, exact lock installed with ``--no-deps``; ``pycryptodome`` is 3.20.0 instead of the 3.6.6 it
asks for, which does not work on Python 3.11), into its own virtualenv ``.venv-ob2/`` in the project
folder (git-ignored), created on first use by :func:`ensure_ob2_python` and reused while the lock file
is unchanged. Set ``OB2_PYTHON`` to use another interpreter that already has the validator.

This file has two halves and imports only the standard library at module level:

* the test side (project venv): :func:`validate_ob2` / :func:`assert_valid_ob2` serialise the input,
  run this same file with the ``.venv-ob2`` interpreter and read back the JSON it prints;
* the runner side (``.venv-ob2``, ``python ob2_validator.py --run``): makes the validator importable on
  Python 3.11 (``collections.Mapping`` and friends aliased to ``collections.abc``), routes every HTTP
  request through an offline transport (JSON-LD contexts from local files; only loopback hosts fetched
  over the network; everything else refused), calls ``openbadges.verify`` and prints its result.

The validator itself fetches the Assertion, BadgeClass and Issuer over HTTP from the running tool. Its
``verify(badge_input, recipient_profile=None, **options)`` takes a URL, a JSON string, or a file-like
object holding a baked PNG/SVG (it calls ``unbake`` on anything with ``read`` and ``seek``). Options
used here: ``use_cache=False`` and ``cache_backend=None`` (its default ``requests_cache`` session does not
work with current ``requests``, and caching would hide a changed or revoked assertion between calls),
``include_original_json``. It has no option for a custom session or document loader (``_get_options``
always builds its own ``CachableDocumentLoader``), hence the transport patch. It does not refuse
``http://`` or ``127.0.0.1`` URLs; what it needs of such hosts is listed in the notes of
:func:`validate_ob2`.

The validator (1.1.2) does not check three things the OB 2.0 specification requires of hosted badges;
the runner checks them with the same offline session and reports them apart from the validator's own
report, under ``extra_checks`` (see :func:`validate_ob2`):

* hosted revocation (spec, "Revoking Hosted Assertions"): ``410 Gone`` or a body with ``revoked: true``;
* content types (spec, "Setting Content-Type"): JSON-LD objects served as ``application/ld+json`` or
  ``application/json``;
* images (spec: "This must be a PNG or SVG image"): a hosted image URL answers 200 with ``image/png`` or
  ``image/svg+xml`` and content of that kind (the validator only looks at data URIs).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS_OB2 = PROJECT_ROOT / "requirements-ob2.txt"
VENV_OB2 = PROJECT_ROOT / ".venv-ob2"
_STAMP = VENV_OB2 / ".requirements-ob2.sha256"
_LOCK = VENV_OB2 / ".build.lock"
RUN_TIMEOUT_SECONDS = 180

# JSON-LD context URLs the validator may ask for, and the file that holds each (see _contexts_dir()).
CONTEXT_FILES = {
    "https://w3id.org/openbadges/v2": "openbadges-v2.json",
    "https://openbadgespec.org/v2/context.json": "openbadges-v2.json",
    "https://w3id.org/openbadges/v1": "openbadges-v1.json",
    "https://openbadgespec.org/v1/context.json": "openbadges-v1.json",
    "https://www.w3.org/ns/credentials/v2": "credentials-v2.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": "ob-v3p0-context-3.0.3.json",
    "https://w3id.org/security/data-integrity/v2": "security-data-integrity-v2.json",
    "https://w3id.org/security/multikey/v1": "security-multikey-v1.json",
}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class OB2ValidatorUnavailable(RuntimeError):
    """The validator's virtualenv could not be made or the runner did not answer."""


# --------------------------------------------------------------------------------------------------
# Test side (project virtualenv)
# --------------------------------------------------------------------------------------------------


def _contexts_dir() -> Path:
    """Where the JSON-LD context files are: OB_CONTEXTS_DIR, else the copies the tool vendors (a clean
    checkout has nothing else)."""
    candidates = []
    if os.environ.get("OB_CONTEXTS_DIR"):
        candidates.append(Path(os.environ["OB_CONTEXTS_DIR"]))
    candidates.append(PROJECT_ROOT / "lti_tool" / "badges" / "contexts")
    for directory in candidates:
        if (directory / "openbadges-v2.json").is_file():
            return directory
    raise OB2ValidatorUnavailable(
        "no JSON-LD context files (openbadges-v2.json) in any of: " + ", ".join(str(c) for c in candidates)
    )


def _requirements_digest() -> str:
    digest = hashlib.sha256(REQUIREMENTS_OB2.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def _venv_python() -> Path:
    return VENV_OB2 / "bin" / "python"


def ensure_ob2_python() -> str:
    """The interpreter that has the validator: OB2_PYTHON, else ``.venv-ob2`` made or refreshed from
    ``requirements-ob2.txt`` (under a file lock, so simultaneous test runs build it once)."""
    if os.environ.get("OB2_PYTHON"):
        return os.environ["OB2_PYTHON"]
    import fcntl

    wanted = _requirements_digest()
    if _STAMP.is_file() and _STAMP.read_text().strip() == wanted and _venv_python().exists():
        return str(_venv_python())
    VENV_OB2.mkdir(exist_ok=True)
    with open(_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _STAMP.is_file() and _STAMP.read_text().strip() == wanted and _venv_python().exists():
            return str(_venv_python())
        _STAMP.unlink(missing_ok=True)
        for entry in VENV_OB2.iterdir():  # a stale or half-made venv: start again, keeping the lock
            if entry.name == _LOCK.name:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        steps = [
            [sys.executable, "-m", "venv", str(VENV_OB2)],
            [str(_venv_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-input", "--no-deps", "-r", str(REQUIREMENTS_OB2)],
            [str(_venv_python()), __file__, "--selftest"],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                raise OB2ValidatorUnavailable(
                    f"making {VENV_OB2} failed at {' '.join(step)}:\n{done.stdout}\n{done.stderr}"
                )
        _STAMP.write_text(wanted)
    return str(_venv_python())


def _describe_source(source) -> dict:
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return {"kind": "png", "data": base64.b64encode(data).decode()}
        if b"<svg" in data[:4096]:
            return {"kind": "svg", "data": data.decode("utf-8")}
        raise ValueError("bytes given to validate_ob2 are neither a PNG nor an SVG")
    if isinstance(source, str):
        text = source.strip()
        if text.startswith(("http://", "https://")):
            return {"kind": "url", "data": text}
        if text.startswith("{"):
            return {"kind": "json", "data": text}
        if "<svg" in text[:4096]:
            return {"kind": "svg", "data": source}
        raise ValueError("a string given to validate_ob2 must be an assertion URL, assertion JSON or SVG text")
    raise TypeError(f"validate_ob2 takes a URL, JSON or SVG str, or PNG/SVG bytes, not {type(source).__name__}")


def validate_ob2(
    source: str | bytes,
    *,
    recipient_email: str | None = None,
    recipient_profile: dict | None = None,
    include_original_json: bool = False,
) -> dict:
    """Run 1EdTech's OB 2.0 validator on ``source`` and return its result.

    ``source``: a hosted assertion URL (``http://127.0.0.1:PORT/...`` is fine), baked PNG bytes, baked
    SVG text (or bytes), or assertion JSON (the validator then fetches its hosted ``id``).
    ``recipient_email`` (or a whole ``recipient_profile`` dict) makes the validator check the
    assertion's hashed recipient against that known email: it hashes the email exactly as given.

    Returns the validator's result ``{"graph": [...], "input": {...}, "report": {...}}`` (the report has
    ``valid``, ``errorCount``, ``warningCount``, ``messages`` [{name, messageLevel, result, success, ...}],
    ``validationSubject``, ``openBadgesVersion``) plus two keys of ours:
    ``extra_checks`` [{name, url, passed, message}] for what the validator does not check (hosted
    revocation, content types, images) and ``revoked`` (410 Gone or ``revoked: true``).

    What the validator demands of the served objects (see the report's messages when it fails):
    ``@context`` "https://w3id.org/openbadges/v2"; the Assertion's ``id`` is the URL it is served at
    (else it refetches the declared id and warns); Assertion: id, type Assertion, recipient (IdentityObject
    with type "email", hashed true, identity "sha256$<hex>", salt), badge (URL of the BadgeClass, fetched),
    verification {"type": "HostedBadge"}, issuedOn (date-time with a timezone, not in the future),
    optional expires (not past); BadgeClass: id, type, issuer (URL, fetched), name, description, image
    (required: URL or PNG/SVG data URI), criteria (URL or object with narrative); Issuer Profile: id
    (http(s) URL), type Issuer or Profile, name, url, email. Hosted verification: the Assertion's URL
    authority (host:port) must equal the issuer id's, unless the Issuer declares ``verification``
    (``allowedOrigins`` values must be real domain names, so on 127.0.0.1 declare none; ``startsWith``
    is a URL prefix). http:// and loopback URLs are accepted.
    """
    if recipient_email is not None:
        recipient_profile = {**(recipient_profile or {}), "email": recipient_email}
    request = _describe_source(source)
    request.update(
        recipient_profile=recipient_profile,
        include_original_json=include_original_json,
        contexts={url: str(_contexts_dir() / name) for url, name in CONTEXT_FILES.items()},
    )
    python = ensure_ob2_python()
    try:
        done = subprocess.run(
            [python, __file__, "--run"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_SECONDS,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    except subprocess.TimeoutExpired as exc:
        raise OB2ValidatorUnavailable(f"the OB 2.0 validator took over {RUN_TIMEOUT_SECONDS}s") from exc
    if done.returncode != 0:
        raise OB2ValidatorUnavailable(f"the OB 2.0 validator failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    try:
        return json.loads(done.stdout)
    except ValueError as exc:
        raise OB2ValidatorUnavailable(f"the OB 2.0 validator printed no JSON:\n{done.stdout[-2000:]}") from exc


def problems(result: dict, *, warnings: bool = False) -> list[str]:
    """The validator's error (and, if asked, warning) messages and our failed extra checks, as lines."""
    lines = []
    levels = {"ERROR", "WARNING"} if warnings else {"ERROR"}
    for message in result.get("report", {}).get("messages", []):
        if message.get("messageLevel") in levels:
            where = message.get("node_id") or ""
            text = f"{message.get('messageLevel')} {message.get('name')}: {message.get('result')} {where}"
            lines.append(text.strip())
    for check in result.get("extra_checks", []):
        if not check.get("passed"):
            lines.append(f"EXTRA {check['name']}: {check['message']} ({check.get('url')})")
    return lines


def assert_valid_ob2(source: str | bytes, *, allow_warnings: bool = True, **kwargs) -> dict:
    """:func:`validate_ob2`, raising AssertionError with the validator's messages unless the report is
    valid with no errors and every extra check passed (and, with ``allow_warnings=False``, no warnings:
    e.g. "Node fetched from source X declared its id as Y"). Returns the result."""
    result = validate_ob2(source, **kwargs)
    report = result.get("report", {})
    lines = problems(result, warnings=not allow_warnings)
    if not report.get("valid") or report.get("errorCount") or lines:
        detail = "\n".join(lines) or json.dumps(report, indent=1)[:4000]
        raise AssertionError(f"Open Badges 2.0 validation failed for {report.get('validationSubject')!r}:\n{detail}")
    return result


# --------------------------------------------------------------------------------------------------
# Runner side (.venv-ob2): everything below runs in the validator's own interpreter
# --------------------------------------------------------------------------------------------------


def _py311_compat() -> None:
    import collections
    import collections.abc

    for name in ("Mapping", "MutableMapping", "Sequence", "MutableSequence", "Iterable", "Iterator",
                 "Callable", "Hashable", "Set", "MutableSet", "Sized", "Container"):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))


def _offline_session_class(contexts: dict):
    """A requests.Session whose transport serves the JSON-LD contexts from files, passes loopback
    requests to the network and refuses every other host."""
    from urllib.parse import urldefrag, urlsplit

    import requests
    from requests.adapters import BaseAdapter, HTTPAdapter
    from requests.structures import CaseInsensitiveDict

    base_session = requests.sessions.Session

    class OfflineAdapter(BaseAdapter):
        def __init__(self):
            super().__init__()
            self.network = HTTPAdapter()

        def send(self, request, **kwargs):
            url = urldefrag(request.url)[0]
            path = (contexts.get(url) or contexts.get(url.rstrip("/"))
                    or contexts.get(url.replace("http://", "https://", 1)))
            if path:
                response = requests.Response()
                response.status_code = 200
                response.url = request.url
                response.request = request
                response.headers = CaseInsensitiveDict({"Content-Type": "application/ld+json"})
                with open(path, "rb") as handle:
                    response._content = handle.read()
                return response
            if urlsplit(url).hostname in LOOPBACK_HOSTS:
                kwargs["timeout"] = kwargs.get("timeout") or 30
                return self.network.send(request, **kwargs)
            raise requests.ConnectionError(f"offline: refusing to fetch {request.url}")

        def close(self):
            self.network.close()

    class OfflineSession(base_session):
        def __init__(self, *args, **kwargs):
            super().__init__()
            self.trust_env = False  # no proxies for loopback
            self.mount("http://", OfflineAdapter())
            self.mount("https://", OfflineAdapter())

        def remove_expired_responses(self):  # requests_cache API the validator may call
            pass

    return OfflineSession


def _install_offline_transport(contexts: dict):
    import requests
    import requests_cache

    session_class = _offline_session_class(contexts)
    requests.Session = session_class
    requests.session = session_class
    requests_cache.CachedSession = session_class

    from pyld import jsonld

    def load_document(url):
        session = session_class()
        response = session.get(url, headers={"Accept": "application/ld+json, application/json"})
        return {"contextUrl": None, "documentUrl": url, "document": response.text}

    jsonld.set_document_loader(load_document)
    return session_class


def _fix_svg_unbake() -> None:
    """openbadges_bakery returns the SVG ``verify`` attribute as bytes, which the validator's input
    detection (written for Python 2) then cannot recognise as a URL: hand it a str."""
    import openbadges.verifier.verifier as verifier_module

    original = verifier_module.unbake

    def unbake(image_file):
        value = original(image_file)
        return value.decode("utf-8") if isinstance(value, bytes) else value

    verifier_module.unbake = unbake


def _media_type(headers) -> str:
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _extra_checks(result: dict, session_class) -> list[dict]:
    checks = []
    session = session_class()
    json_accept = {"Accept": "application/ld+json, application/json"}
    graph = result.get("graph") or []

    def get(url, headers):
        try:
            return session.get(url, headers=headers, timeout=30), None
        except Exception as exc:  # noqa: BLE001 - reported as a failed check
            return None, f"{type(exc).__name__}: {exc}"

    # Hosted revocation: 410 Gone, or revoked: true in the body.
    assertion_ids = [n["id"] for n in graph if n.get("type") == "Assertion" and str(n.get("id", "")).startswith("http")]
    subject = result.get("report", {}).get("validationSubject")
    if not assertion_ids and isinstance(subject, str) and subject.startswith("http"):
        assertion_ids = [subject]
    result["revoked"] = False
    for url in assertion_ids:
        response, error = get(url, json_accept)
        if error:
            checks.append({"name": "hosted_revocation", "url": url, "passed": False, "message": error})
            continue
        body = {}
        with contextlib.suppress(ValueError):
            body = response.json()
        revoked = response.status_code == 410 or (isinstance(body, dict) and body.get("revoked") is True)
        if revoked:
            result["revoked"] = True
            reason = body.get("revocationReason") if isinstance(body, dict) else None
            message = f"Revoked: HTTP {response.status_code}" + (f", revocationReason {reason!r}" if reason else "")
        elif response.status_code != 200:
            message = f"HTTP {response.status_code} for the hosted assertion"
        else:
            message = "200 OK and not revoked"
        checks.append({"name": "hosted_revocation", "url": url, "passed": not revoked and response.status_code == 200,
                       "message": message})

    # Content types of the hosted JSON-LD objects.
    for node in graph:
        url = str(node.get("id", ""))
        if node.get("type") not in ("Assertion", "BadgeClass", "Issuer", "Profile") or not url.startswith("http"):
            continue
        response, error = get(url, json_accept)
        if error:
            checks.append({"name": "content_type", "url": url, "passed": False, "message": error})
            continue
        media = _media_type(response.headers)
        ok = media in ("application/ld+json", "application/json")
        checks.append({"name": "content_type", "url": url, "passed": ok,
                       "message": f"{node.get('type')} served as {media or 'no Content-Type'}"})

    # Hosted images are PNG or SVG.
    for node in graph:
        if node.get("type") not in ("Assertion", "BadgeClass", "Issuer", "Profile"):
            continue
        image = node.get("image")
        url = image.get("id") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url.startswith("http"):
            continue
        response, error = get(url, {"Accept": "image/png, image/svg+xml"})
        if error:
            checks.append({"name": "image", "url": url, "passed": False, "message": error})
            continue
        media = _media_type(response.headers)
        content = response.content or b""
        if media == "image/png":
            ok = content.startswith(b"\x89PNG\r\n\x1a\n")
        elif media == "image/svg+xml":
            ok = b"<svg" in content[:4096]
        else:
            ok = False
        ok = ok and response.status_code == 200
        checks.append({"name": "image", "url": url, "passed": ok,
                       "message": f"{node.get('type')} image: HTTP {response.status_code}, "
                                  f"{media or 'no Content-Type'}, {len(content)} bytes"})
    return checks


def _run(request: dict) -> dict:
    import io

    _py311_compat()
    session_class = _install_offline_transport(request["contexts"])
    import openbadges
    from openbadges_bakery import unbake

    _fix_svg_unbake()
    kind, data = request["kind"], request["data"]
    if kind == "png":
        badge_input = io.BytesIO(base64.b64decode(data))
        badge_input.name = "baked.png"
    elif kind == "svg":
        badge_input = io.BytesIO(data.encode("utf-8"))
        badge_input.name = "baked.svg"
    else:
        badge_input = data
    if kind in ("png", "svg") and not unbake(badge_input):
        # verify() would crash on Python 3 here (it reads ValueError.message): report it as it means to.
        return {"graph": [], "input": {"value": None, "input_type": "file"}, "extra_checks": [], "revoked": False,
                "report": {"valid": False, "errorCount": 1, "warningCount": 0, "validationSubject": None,
                           "messages": [{"name": "DETECT_INPUT_TYPE", "messageLevel": "ERROR", "success": False,
                                         "result": "Could not find Open Badges metadata in file."}]}}
    result = openbadges.verify(
        badge_input,
        recipient_profile=request.get("recipient_profile"),
        use_cache=False,
        cache_backend=None,
        include_original_json=bool(request.get("include_original_json")),
    )
    result["extra_checks"] = _extra_checks(result, session_class)
    return result


def _json_default(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _runner_main(argv: list[str]) -> int:
    if argv[:1] == ["--selftest"]:
        _py311_compat()
        import openbadges  # noqa: F401
        from openbadges.verifier.verifier import verify  # noqa: F401

        print("ok")
        return 0
    if argv[:1] != ["--run"]:
        print("usage: ob2_validator.py --run < request.json | --selftest", file=sys.stderr)
        return 2
    request = json.loads(sys.stdin.read())
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # anything the validator prints must not spoil the JSON answer
    try:
        result = _run(request)
    finally:
        sys.stdout = real_stdout
    real_stdout.write(json.dumps(result, default=_json_default))
    real_stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_runner_main(sys.argv[1:]))
