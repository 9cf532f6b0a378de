"""The two measured workloads: a trivial page, and whole launches as a browser drives them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests

from tests.platform.browser import PlatformBrowser, forms_in


@dataclass
class LaunchTiming:
    total: float  # end to end, as the person waits for it (platform and client included)
    tool: float  # the tool's requests only: login, launch, and the landing page when the launch redirects
    steps: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)  # summed X-Bench-* headers of the tool's answers (bench/counting.py)
    landing_path: str = ""


class LaunchFailed(Exception):
    pass


COUNT_HEADERS = {"sql": "X-Bench-SQL", "cache_writes": "X-Bench-Cache-Writes", "cache_reads": "X-Bench-Cache-Reads"}


def _add_counts(counts: dict, response) -> None:
    for name, header in COUNT_HEADERS.items():
        if header in response.headers:
            counts[name] = counts.get(name, 0) + int(response.headers[header])


def one_launch(platform, person: str = "learner", custom: dict | None = None) -> LaunchTiming:
    """login → platform /auth (auto-post form) → POST /lti/launch → the page the person lands on (200).

    The launch either renders that page itself (the minimal tool) or answers 303 with its address (this tool).
    """
    browser = PlatformBrowser(platform)  # a fresh browser: no cookies left over from other launches
    login, _ = platform.next_launch(person=person, **({"custom": custom} if custom else {}))
    counts: dict = {}
    clock = time.perf_counter
    started = clock()
    response = browser.start_login(login)
    t_login = clock()
    if response.status_code != 302:
        raise LaunchFailed(f"login answered {response.status_code}: {response.text[:300]}")
    _add_counts(counts, response)
    auth = browser.get(response.headers["Location"], allow_redirects=False)
    t_auth_response = clock()
    if auth.status_code != 200:
        raise LaunchFailed(f"platform /auth answered {auth.status_code}: {auth.text[:300]}")
    form = forms_in(auth.text)[0]
    t_auth = clock()  # the platform's answer and reading its form: not the tool's time
    posted = browser.post(form["action"], data=form["fields"], allow_redirects=False)
    t_launch = clock()
    _add_counts(counts, posted)
    landing = posted
    if posted.status_code not in (200, 303):
        raise LaunchFailed(f"launch answered {posted.status_code}: {posted.text[:300]}")
    for _ in range(3):  # each hop is a request of the tool's (an older version went through /lti/home)
        if landing.status_code != 303:
            break
        landing = browser.get(urljoin(landing.url, landing.headers["Location"]), allow_redirects=False)
        _add_counts(counts, landing)
    finished = clock()
    if landing.status_code != 200:
        raise LaunchFailed(f"landing page {landing.url} answered {landing.status_code}: {landing.text[:300]}")
    browser.session.close()
    steps = {
        "login": t_login - started,
        "auth": t_auth_response - t_login,
        "launch": t_launch - t_auth,
        "landing": finished - t_launch,
    }
    return LaunchTiming(total=finished - started, tool=steps["login"] + steps["launch"] + steps["landing"],
                        steps=steps, counts=counts, landing_path=urlsplit(landing.url).path)


def run_pages(url: str, count: int, concurrency: int) -> tuple[list[float], float]:
    """`count` GETs of `url` over `concurrency` threads, each with its own Session: (latencies, wall seconds)."""
    local = threading.local()

    def get(_):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        started = time.perf_counter()
        response = session.get(url, timeout=10)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise LaunchFailed(f"{url} answered {response.status_code}")
        return elapsed

    started = time.perf_counter()
    latencies = _run(get, count, concurrency)
    return latencies, time.perf_counter() - started


def run_launches(platform, count: int, concurrency: int, custom: dict | None = None,
                 ) -> tuple[list[LaunchTiming], list[str], float]:
    """`count` whole launches over `concurrency` threads: (timings, failures, wall seconds)."""
    timings: list[LaunchTiming] = []
    failures: list[str] = []
    lock = threading.Lock()

    def launch(_):
        try:
            timing = one_launch(platform, custom=custom)
        except Exception as error:  # noqa: BLE001  (a failed launch is reported, the run goes on)
            with lock:
                failures.append(f"{type(error).__name__}: {error}")
            return
        with lock:
            timings.append(timing)

    started = time.perf_counter()
    _run(launch, count, concurrency)
    return timings, failures, time.perf_counter() - started


def _run(task, count: int, concurrency: int) -> list:
    """task(i) for i in range(count) over `concurrency` threads; Ctrl-C cancels what has not started."""
    pool = ThreadPoolExecutor(concurrency)
    try:
        return list(pool.map(task, range(count)))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
