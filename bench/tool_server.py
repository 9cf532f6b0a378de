"""The tool as production runs it: gunicorn (deploy/gunicorn.conf.py) on loopback, set up by its own CLI."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tool_environment(workdir: Path, port: int) -> dict:
    """APP_ENV=production with everything in `workdir`; DATABASE_URL and REDIS_URL pass through when set."""
    env = dict(os.environ)
    env.update(
        APP_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(32),  # production refuses to start without one
        INSTANCE_PATH=str(workdir / "instance"),
        LTI_KEYS_DIR=str(workdir / "keys"),
        CACHE_DIR=str(workdir / "cache"),
        BASE_URL=f"http://127.0.0.1:{port}",
        DEMO_ENABLED="0",
        OUTBOX_RUN_IN_THREAD="0",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_LOG_LEVEL="warning",
    )
    env.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite'}")
    if not env["DATABASE_URL"]:
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite'}"
    return env


def flask(env: dict, *args: str, timeout: float = 300) -> str:
    """Run `flask --app wsgi ...` with the tool's environment; fail loudly, also when it runs over `timeout` seconds
    (killed then: a hung command must not hang the bench or CI)."""
    command = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
    try:
        result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        output = [part.decode(errors="replace") if isinstance(part, bytes) else part or ""
                  for part in (expired.stdout, expired.stderr)]  # bytes here, whatever `text` says
        raise RuntimeError(f"{' '.join(args)} did not finish within {timeout:g}s:\n" + "\n".join(output)) from None
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


def set_up_tool(env: dict, platform, *, catalog: bool = False) -> None:
    """What an admin does once: migrate, generate keys, (load the catalog,) register the platform."""
    flask(env, "db", "upgrade")
    flask(env, "keys", "ensure")
    if catalog:
        flask(env, "catalog", "load")
    flask(env, "platforms", "add", "--issuer", platform.issuer, "--client-id", platform.client_id,
          "--login-url", platform.auth_url, "--token-url", platform.token_url,
          "--jwks-url", platform.jwks_url, "--deployment", platform.deployment_id, "--name", "Bench LMS")


def tear_down(gunicorn, platform_server, workdir: Path, *, keep: bool, label: str) -> None:
    """Stop what a section started and remove its temp dir (or say where it was kept)."""
    if gunicorn is not None:
        gunicorn.stop()
    if platform_server is not None:
        platform_server.stop()
    if keep:
        print(f"{label}: kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


class Gunicorn:
    def __init__(self, env: dict, port: int, workers: int, log_path: Path, *, config: str = "deploy/gunicorn.conf.py",
                 app: str = "wsgi:app"):
        self.env = dict(env, WEB_CONCURRENCY=str(workers))
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.config = config  # bench/gunicorn_counting.py: the same settings, with per-request counters
        self.app = app
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> Gunicorn:
        log = open(self.log_path, "ab")  # noqa: SIM115  (owned by the child until stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", self.config,
             "--access-logfile", str(self.log_path.with_suffix(".access.log")), self.app],
            cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the benchmark only; it stops gunicorn itself
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                if requests.get(self.url + "/healthz", timeout=5).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer /healthz within {timeout}s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the master and its workers only
            self.process.wait()
