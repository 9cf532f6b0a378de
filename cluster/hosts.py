"""Several hosts on one machine: N web servers and M outbox workers on one PostgreSQL, one Redis and one S3 endpoint.

Each web server is what production runs on a machine of its own: gunicorn with deploy/gunicorn.conf.py, its own
working directory (instance folder), the production settings. What the machines share is what production shares:
DATABASE_URL, REDIS_URL, SECRET_KEY, the S3 bucket, BASE_URL (the load balancer's address) and LTI_KEYS_DIR (a
shared folder: a rotation on one host writes keys.json there and every host reads it again by its stamp).

The caller plays the load balancer: `on_host(url, i)` sends a tool URL to host i. The independent test platform
(tests/platform) serves the LMS over HTTP; it records which of the cluster's processes sent each request it
receives (by the sender's TCP port), so a test can say which outbox worker delivered which score.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import sqlalchemy as sa

from bench.platform_server import BROWSER_PATHS, PlatformServer
from bench.tool_server import PROJECT_ROOT, Gunicorn, flask, free_port, set_up_tool, tool_environment
from config.settings import normalise_database_url

STORAGES = ("s3", "local")
STARTUP_SECONDS = 120.0
APPLICATION_NAME_PREFIX = "mcb-"  # every process of the cluster names itself so to PostgreSQL (pg_stat_activity)


class OutboxWorker:
    """`flask --app wsgi worker` in its own session, as production runs it next to gunicorn."""

    def __init__(self, env: dict, log_path: Path):
        self.env, self.log_path = env, log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> OutboxWorker:
        log = open(self.log_path, "ab")  # noqa: SIM115  (owned by the child until stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker"], cwd=PROJECT_ROOT, env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            if b"outbox worker running" in self.log_path.read_bytes():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"the worker did not start within {timeout}s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # run_forever stops after its round
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the worker alone
            self.process.wait()


class SenderRecorder:
    """WSGI middleware of the platform: which cluster process sent each request the tool makes (token, AGS, NRPS,
    JWKS), found by the TCP port it sends from; `latency` seconds added to each such request (a real LMS is slower
    than loopback)."""

    def __init__(self, wsgi_app, processes, latency: float = 0.0):
        self.wsgi_app = wsgi_app
        self.processes = processes  # () -> {pid: name} of the cluster's processes now
        self.latency = latency
        self.requests: list[tuple[str | None, str, str]] = []  # (sender, method, path)
        self.known_ports: dict[int, tuple[int, str]] = {}  # port -> (pid, name) of its last sender
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path not in BROWSER_PATHS and not path.startswith(("/course/", "/activity/", "/return")):
            sender = self.sender_of(int(environ.get("REMOTE_PORT") or 0))
            with self.lock:
                self.requests.append((sender, environ.get("REQUEST_METHOD", ""), path))
            if self.latency:
                time.sleep(self.latency)
        return self.wsgi_app(environ, start_response)

    def sender_of(self, port: int) -> str | None:
        """The process with a TCP connection from this port. The last sender from a port is asked first (connections
        are kept alive), but asked again: once closed, the port may be another process's."""
        known = self.known_ports.get(port)
        candidates = ([known] if known else []) + list(self.processes().items())
        for pid, name in candidates:
            if has_connection_from(pid, port):
                self.known_ports[port] = (pid, name)
                return name
        return None

    def snapshot(self) -> list[tuple[str | None, str, str]]:
        with self.lock:
            return list(self.requests)


def has_connection_from(pid: int, port: int) -> bool:
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(connection.laddr and connection.laddr.port == port for connection in connections)


class Cluster:
    """`with Cluster(workdir, database_url=..., redis_url=...) as cluster:` — see the module's docstring."""

    def __init__(self, workdir: Path, *, database_url: str, redis_url: str, web_servers: int = 2, workers: int = 2,
                 storage: str = "s3", web_concurrency: int = 2, settings: dict | None = None,
                 lms_latency: float = 0.0):
        if not (database_url or "").startswith(("postgres://", "postgresql")):
            raise ValueError("Several hosts share one PostgreSQL database: give a postgresql:// DATABASE_URL")
        if not redis_url:
            raise ValueError("Several hosts share one Redis: give a redis:// REDIS_URL")
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {', '.join(STORAGES)}, not {storage!r}")
        if web_servers < 1 or workers < 0:
            raise ValueError("A cluster has at least one web server and no negative number of workers")
        self.workdir = Path(workdir)
        self.database_url = normalise_database_url(database_url)
        self.redis_url = redis_url
        self.storage = storage
        self.web_concurrency = web_concurrency
        self.settings = {name: str(value) for name, value in (settings or {}).items()}
        self.lms_latency = lms_latency
        self.ports = [free_port() for _ in range(web_servers)]
        self.web_urls = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.base_url = self.web_urls[0]  # BASE_URL of every host: the address a load balancer would have
        self.secret_key = secrets.token_urlsafe(32)
        self.worker_count = workers
        self.bucket = f"mcb-cluster-{uuid.uuid4().hex[:12]}"
        self.s3 = None
        self.platform_server: PlatformServer | None = None
        self.senders: SenderRecorder | None = None
        self.webs: list[Gunicorn] = []
        self.workers: list[OutboxWorker] = []
        self._probe: sa.Engine | None = None
        self._sigterm_before = None

    # -- starting and stopping -----------------------------------------------------------------------------
    def __enter__(self) -> Cluster:
        self._sigterm_before = _stop_on_sigterm()
        try:
            self.start()
        except BaseException:
            self.stop(failed=True)
            raise
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.stop(failed=exc_type is not None)

    def start(self) -> Cluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.storage == "s3":
            from tests.s3_server import S3Server

            self.s3 = S3Server(log_path=self.workdir / "s3.log").start()
            self.s3.client().create_bucket(Bucket=self.bucket)
        self.platform_server = PlatformServer(self.base_url).start()
        platform_app = self.platform.app
        self.senders = SenderRecorder(platform_app.wsgi_app, self._process_names, self.lms_latency)
        platform_app.wsgi_app = self.senders
        set_up_tool(self.environment(0), self.platform, catalog=True)
        self.webs = [Gunicorn(self.environment(i), port, self.web_concurrency, self.workdir / f"web-{i}.log")
                     for i, port in enumerate(self.ports)]
        self.workers = [OutboxWorker(self._environment(f"worker-{j}", self.ports[0]), self.workdir / f"worker-{j}.log")
                        for j in range(self.worker_count)]
        self.print_logs(sys.stdout)  # pytest shows it when the test fails
        # Side by side, each waiting for its process to answer (a busy machine may need a while to start them all).
        _all_at_once([partial(process.start, timeout=STARTUP_SECONDS) for process in [*self.webs, *self.workers]])
        return self

    def stop(self, *, failed: bool = False) -> None:
        """Stop every process (each in its own process group, killed if it does not stop); the logs stay."""
        try:
            _all_at_once([process.stop for process in [*self.workers, *self.webs]])
        finally:
            if self.platform_server is not None:
                self.platform_server.stop()
            if self.s3 is not None:
                self.s3.stop()
            if self._probe is not None:
                self._probe.dispose()
            if failed:
                self.print_logs(sys.stderr)
            if self._sigterm_before is not None:
                signal.signal(signal.SIGTERM, self._sigterm_before)
                self._sigterm_before = None

    def stop_web(self, i: int) -> None:
        """Stop host i's web server (the others go on serving)."""
        self.webs[i].stop()

    # -- each host's environment ---------------------------------------------------------------------------
    def environment(self, host: int) -> dict:
        """Host i's environment: production settings, a working directory of its own, the shared settings."""
        return self._environment(f"web-{host}", self.ports[host])

    def _environment(self, name: str, port: int) -> dict:
        env = tool_environment(self.workdir / name, port)
        env.update(
            SECRET_KEY=self.secret_key,
            LTI_KEYS_DIR=str(self.workdir / "keys"),
            BASE_URL=self.base_url,
            DATABASE_URL=self._database_url_for(APPLICATION_NAME_PREFIX + name),
            REDIS_URL=self.redis_url,
            STORAGE_BACKEND=self.storage,
        )
        if self.s3 is not None:
            env.update(self.s3.settings(self.bucket))
        else:
            env["UPLOAD_DIR"] = str(self.workdir / "uploads")  # one folder for every host (a shared mount)
        env.update(self.settings)
        return env

    def _database_url_for(self, application_name: str) -> str:
        url = sa.make_url(self.database_url)
        return url.update_query_dict({"application_name": application_name}).render_as_string(hide_password=False)

    # -- what a test or a load test does with it -----------------------------------------------------------
    @property
    def platform(self):
        """The independent test platform (tests/platform/platform.TestPlatform; `.services` are its AGS/NRPS)."""
        return self.platform_server.platform

    def on_host(self, url: str, host: int) -> str:
        """The same tool URL on host i (what a load balancer decides); any other URL as it is."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" not in self.web_urls:
            return url
        target = urlsplit(self.web_urls[host])
        return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))

    def run_flask(self, *args: str, host: int = 0) -> str:
        """`flask --app wsgi <args>` in host i's environment; its output. RuntimeError with the output if it fails."""
        return flask(self.environment(host), *args)

    def run_python(self, code: str, host: int = 0, timeout: float = 120) -> str:
        """A Python script in host i's environment (`from wsgi import app` gives its app); its output."""
        result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=self.environment(host),  # noqa: S603
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"the script failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout.strip()

    def database_connections(self) -> int:
        """Connections the cluster's processes hold to the database now (pg_stat_activity)."""
        if self._probe is None:
            self._probe = sa.create_engine(self._database_url_for("cluster-probe"), poolclass=sa.NullPool)
        with self._probe.connect() as connection:
            return connection.scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name LIKE :prefix"), {"prefix": APPLICATION_NAME_PREFIX + "%"})

    def web_pids(self, host: int) -> list[int]:
        """Host i's gunicorn master, then its workers."""
        master = self.webs[host].process.pid
        return [master, *(child.pid for child in psutil.Process(master).children())]

    @property
    def worker_pids(self) -> list[int]:
        return [worker.process.pid for worker in self.workers]

    def platform_requests(self) -> list[tuple[str | None, str, str]]:
        """What the platform received from the tool: (sender, method, path); sender "worker-0", "web-1"... or None."""
        return self.senders.snapshot()

    def print_logs(self, stream) -> None:
        print("cluster logs:\n" + "\n".join(f"  {name}: {path}" for name, path in self.logs().items()),
              file=stream, flush=True)

    def logs(self) -> dict[str, Path]:
        """Every process's log, by name."""
        logs = {}
        for i, web in enumerate(self.webs):
            logs[f"web-{i}"] = web.log_path
            logs[f"web-{i} access"] = web.log_path.with_suffix(".access.log")
        for j, worker in enumerate(self.workers):
            logs[f"worker-{j}"] = worker.log_path
        if self.s3 is not None:
            logs["s3"] = self.s3.log_path
        return logs

    def _process_names(self) -> dict[int, str]:
        names = {}
        for j, worker in enumerate(self.workers):
            if worker.process is not None:
                names[worker.process.pid] = f"worker-{j}"
        for i, web in enumerate(self.webs):
            if web.process is not None and web.process.poll() is None:
                try:
                    names.update(dict.fromkeys(self.web_pids(i), f"web-{i}"))
                except psutil.Error:  # stopping just now
                    continue
        return names


def _all_at_once(calls) -> None:
    """Run the calls side by side (each mostly waits for a process); then raise the first error, if any."""
    with ThreadPoolExecutor(max(1, len(calls))) as pool:
        futures = [pool.submit(call) for call in calls]
    errors = [future.exception() for future in futures if future.exception() is not None]
    if errors:
        raise errors[0]


def _stop_on_sigterm():
    """`kill`/`timeout` end the process running a cluster with SIGTERM, whose default skips every `finally`: made a
    SystemExit instead, the cluster stops its processes (they run in sessions of their own and would stay behind).
    The handler it replaced (to put back at stop), or None when it left things as they were."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        return signal.signal(signal.SIGTERM, _exit_on_sigterm)
    return None


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)
