"""The people of the load test: educators writing and submitting their work, instructors following the course.

Every simulated person has a browser of their own (cookies, the launch reference) and one web server: people are
spread over the servers round-robin, as a load balancer with sticky sessions spreads them, so every URL of the
tool goes to that person's server whatever origin the tool wrote into it. What each person does is one step of a
kind (KINDS) at a time, timed as the person waits for it and reported to Locust under that kind's name; a step
whose answer is not the one the page expects is a failure, its status and the head of its body kept in
`Course.errors`.

An educator launches from the LMS (OIDC login → the platform's authorization → the tool's launch), opens the
submission page, types (the page autosaves every few seconds, the text growing), uploads files of mixed sizes
through the page's script path (the raw body to `POST /artifacts/upload`), adds a link, and submits after a few
minutes; then looks at the page now and then. An instructor launches onto the course's progress view and opens it
again every 10–20 seconds, sorted, filtered or paged another way.

`loadtest/__main__.py` sets `CoursePerson.course` (the platform, the web servers, the people, the pace) before
the first user starts.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import gevent
from locust import User, constant, task
from requests import Response

from tests.platform.browser import PlatformBrowser, forms_in

KiB = 1024
MiB = 1024 * KiB
# launch: the tool's login, the LMS's authorization, the tool's launch (up to its redirect to the landing page);
# submit: save and ask, the confirmation page, confirm, the page that says so; the others one request each.
KINDS = ("launch", "submission page", "autosave", "upload small", "upload large", "link", "submit", "progress view")
# The first bytes each kind of file starts with: the tool checks a file's content against its name.
HEADS = {
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "mp4": (24).to_bytes(4, "big") + b"ftypisom\x00\x00\x02\x00isomiso2",
}
SENTENCES = (
    "I planned the unit around three questions the pupils asked in the first lesson. ",
    "The feedback from my colleague showed that the group work needed clearer roles. ",
    "Next time I would give the exit tickets earlier, so that I can regroup the class the day after. ",
    "The recording shows how the discussion moved once the pupils had the sentence starters. ",
)
PROGRESS_VIEWS = (
    {}, {"sort": "name", "dir": "desc"}, {"sort": "state"}, {"sort": "last_modified", "dir": "desc"},
    {"sort": "submitted"}, {"status": "draft"}, {"status": "submitted"}, {"status": "not_started"}, {"page": 2},
)


@dataclass
class Course:
    """What the people share: the LMS, the tool's servers, who they are, and the pace of their work (seconds)."""

    platform: object  # tests.platform.platform.TestPlatform, served over HTTP
    web_urls: list[str]
    on_host: Callable[[str, int], str]  # a tool URL sent to web server i (cluster.Cluster.on_host)
    educators: list[str]  # keys of tests.platform.platform.PEOPLE
    instructors: list[str]
    context_id: str
    resource_link_id: str
    slug: str
    submit_after: tuple[float, float] = (120.0, 180.0)  # from an educator's launch to their submission
    autosave_every: tuple[float, float] = (3.0, 7.0)
    progress_every: tuple[float, float] = (10.0, 20.0)
    uploads: tuple[int, int] = (1, 3)  # files per educator
    large_every: int = 7  # every 7th upload of the run (the first included) 5–20 MiB; the others 100 KiB – 1 MiB
    errors: list[str] = field(default_factory=list)  # "kind: status body-head", the first ERRORS_KEPT
    launches: int = 0
    submissions: int = 0
    uploads_started: int = 0

    ERRORS_KEPT = 20


class StepFailed(Exception):
    """A tool's (or the LMS's) answer that the page would not expect."""

    @classmethod
    def answer(cls, what: str, response: Response) -> StepFailed:
        return cls(f"{what} answered {response.status_code}: {' '.join(response.text[:300].split())}")


@dataclass
class Outcome:
    """What a step came to: its failure, the bytes it moved, the URL it sent the person to."""

    error: Exception | None = None
    size: int = 0
    landing: str | None = None


def file_body(extension: str, size: int) -> bytes:
    """`size` bytes whose first bytes are what the extension promises."""
    head = HEADS[extension]
    return head + bytes(size - len(head))


def ltik_of(url: str) -> str | None:
    return (parse_qs(urlsplit(url).query).get("ltik") or [None])[0]


class CoursePerson(User):
    """A person of the course with a browser of their own, talking to one web server."""

    abstract = True
    course: Course  # set by loadtest/__main__.py
    wait_time = constant(0)  # each person paces themselves (`pause`)
    people: itertools.count  # the next person of the subclass's list

    def on_start(self) -> None:
        number = next(type(self).people)
        self.person = self.roster()[number % len(self.roster())]
        self.host = number % len(self.course.web_urls)
        self.origin = self.course.web_urls[self.host].rstrip("/")
        self.browser = PlatformBrowser(self.course.platform)
        self.ltik: str | None = None

    def roster(self) -> list[str]:
        raise NotImplementedError

    # -- requests -------------------------------------------------------------------------------------------
    def call(self, method: str, url: str, expect: int, what: str, **kwargs) -> Response:
        kwargs.setdefault("timeout", 120)
        response = self.browser.request(method, self.course.on_host(url, self.host), allow_redirects=False, **kwargs)
        if response.status_code != expect:
            raise StepFailed.answer(what, response)
        return response

    @contextmanager
    def step(self, kind: str):
        """One step the person waits for, reported under `kind`; a failure is counted and kept, never raised."""
        outcome = Outcome()
        started = time.perf_counter()
        try:
            yield outcome
        except Exception as error:  # an answer the page would not expect, a refused connection, a body not JSON
            outcome.error = error
            if len(self.course.errors) < Course.ERRORS_KEPT:
                self.course.errors.append(f"{kind}: {error}")
        self.environment.events.request.fire(
            request_type="STEP", name=kind, response_time=(time.perf_counter() - started) * 1000,
            response_length=outcome.size, exception=outcome.error, context={},
        )

    def pause(self, seconds: tuple[float, float]) -> None:
        gevent.sleep(random.uniform(*seconds))

    # -- the launch -----------------------------------------------------------------------------------------
    def launch(self) -> str | None:
        """The LMS's launch in a fresh browser, up to the tool's answer; the URL it sends the person to."""
        self.browser = PlatformBrowser(self.course.platform)
        course = self.course
        with self.step("launch") as outcome:
            login, _ = course.platform.next_launch(
                person=self.person, context_id=course.context_id, resource_link_id=course.resource_link_id,
                custom={"microcredential": course.slug})
            answer = self.call("GET", self.origin + "/lti/login", 302, "login", params=login)
            authorization = self.call("GET", answer.headers["Location"], 200, "the LMS's authorization")
            form = forms_in(authorization.text)[0]
            launched = self.call("POST", form["action"], 303, "launch", data=form["fields"])
            outcome.landing = urljoin(launched.url, launched.headers["Location"])
            self.ltik = ltik_of(outcome.landing)
            course.launches += 1
        return outcome.landing if outcome.error is None else None


class Educator(CoursePerson):
    """Launches, writes (autosaved), uploads, adds a link, submits; then looks at the page now and then."""

    people = itertools.count()

    def roster(self) -> list[str]:
        return self.course.educators

    def on_start(self) -> None:
        super().on_start()
        self.text = {"overview": "", "reflection": ""}
        self.submitted = False
        self.attempt_id = self.version = None

    @task
    def work(self) -> None:
        if self.submitted:
            self.pause((20.0, 40.0))
            self.open_page()
            return
        landing = self.launch()
        if landing is None or not self.open_page(landing):
            self.pause((5.0, 10.0))  # then launch again from the LMS
            return
        submit_at = time.monotonic() + random.uniform(*self.course.submit_after)
        chores = self.chores(submit_at)
        self.pause(self.course.autosave_every)
        self.autosave()  # the person types first
        while time.monotonic() < submit_at or chores:  # what is left to add is added before submitting
            self.pause(self.course.autosave_every)
            if chores and (chores[0][0] <= time.monotonic() or time.monotonic() >= submit_at):
                chores.pop(0)[1]()
            else:
                self.autosave()
        self.submit()

    def chores(self, submit_at: float) -> list[tuple[float, Callable[[], None]]]:
        """Uploads and one link, at random moments of the session (before its last fifth)."""
        now = time.monotonic()
        moments = sorted(now + random.uniform(0.1, 0.8) * (submit_at - now)
                         for _ in range(random.randint(*self.course.uploads) + 1))
        actions = [self.upload] * (len(moments) - 1) + [self.add_link]
        random.shuffle(actions)
        return list(zip(moments, actions, strict=True))

    # -- the steps ------------------------------------------------------------------------------------------
    def open_page(self, url: str | None = None) -> bool:
        """The submission page: its attempt and version, as the page's script reads them."""
        with self.step("submission page") as outcome:
            page = self.call("GET", url or f"{self.origin}/submission/", 200, "the submission page",
                             params=None if url else {"ltik": self.ltik})
            outcome.size = len(page.content)
            self.read_attempt(page)
        return outcome.error is None

    def read_attempt(self, page: Response) -> None:
        form = next((f for f in forms_in(page.text) if f["id"] == "attempt-form"), None)
        if form is None:
            raise StepFailed.answer("the submission page (without its form)", page)
        fields = form["fields"]
        self.attempt_id, self.version, self.ltik = fields["attempt_id"], int(fields["version"]), fields["ltik"]

    def typed(self) -> dict:
        """The text parts as they stand, one sentence longer than the last save (the shorter part grows)."""
        part = min(self.text, key=lambda name: len(self.text[name]))
        self.text[part] += random.choice(SENTENCES)
        return {"ltik": self.ltik, "attempt_id": self.attempt_id, "version": self.version, **self.text,
                "collaboration": "no", "collaborators": ""}

    def autosave(self) -> None:
        with self.step("autosave") as outcome:
            answer = self.call("POST", f"{self.origin}/submission/autosave", 200, "autosave", data=self.typed(),
                               headers={"X-Launch-Token": self.ltik, "Accept": "application/json"})
            self.version = answer.json()["version"]
        if outcome.error is not None:
            self.open_page()  # as the person would: reload, then type on

    def upload(self) -> None:
        large = self.course.uploads_started % self.course.large_every == 0
        self.course.uploads_started += 1
        size = random.randint(5 * MiB, 20 * MiB) if large else random.randint(100 * KiB, 1 * MiB)
        extension = "mp4" if large else random.choice(("pdf", "png", "jpg"))
        with self.step("upload large" if large else "upload small") as outcome:
            answer = self.call(
                "POST", f"{self.origin}/artifacts/upload", 201, "upload",
                params={"attempt_id": self.attempt_id, "title": f"Evidence {random.randint(1, 999)}"},
                data=file_body(extension, size),
                headers={"Content-Type": "application/octet-stream", "X-Launch-Token": self.ltik,
                         "X-File-Name": quote(f"lesson evidence.{extension}"), "Accept": "application/json"},
            )
            outcome.size = size
            if answer.json()["size"] != size:
                raise StepFailed.answer(f"the upload of {size:,} bytes (another size stored)", answer)
        self.open_page()  # the script reloads the page after an upload (and after a refusal, the person does)

    def add_link(self) -> None:
        with self.step("link") as outcome:
            answer = self.call("POST", f"{self.origin}/submission/links", 303, "adding a link", data={
                "ltik": self.ltik, "attempt_id": self.attempt_id, "artifact_title": "Lesson plan",
                "artifact_url": f"https://example.org/portfolio/{self.person}?v={random.randint(1, 999)}"})
            outcome.landing = urljoin(answer.url, answer.headers["Location"])
        self.open_page(outcome.landing)

    def submit(self) -> None:
        """Submit (the text sent along is saved first), the confirmation page, confirm, the page that says so."""
        with self.step("submit") as outcome:
            asked = self.call("POST", f"{self.origin}/submission/", 303, "submit",
                              data={**self.typed(), "action": "submit"})
            confirmation = self.call("GET", urljoin(asked.url, asked.headers["Location"]), 200, "the confirmation")
            form = next((f for f in forms_in(confirmation.text) if f["fields"].get("action") == "confirm"), None)
            if form is None:
                raise StepFailed.answer("the confirmation (without its Confirm button)", confirmation)
            confirmed = self.call("POST", urljoin(confirmation.url, form["action"]), 303, "confirm",
                                  data=form["fields"])
            page = self.call("GET", urljoin(confirmed.url, confirmed.headers["Location"]), 200, "the submitted page")
            outcome.size = len(page.content)
            if "notice=submitted" not in confirmed.headers["Location"]:
                raise StepFailed.answer("confirm (no “submitted” notice)", confirmed)
            self.submitted = True
            self.course.submissions += 1
        if outcome.error is not None:
            self.open_page()


class Instructor(CoursePerson):
    """Launches onto the course's progress view, then opens it again every 10–20 s, another way each time."""

    people = itertools.count()

    def roster(self) -> list[str]:
        return self.course.instructors

    @task
    def follow_the_course(self) -> None:
        landing = self.launch()
        if landing is None or not self.view_progress(landing):
            self.pause((5.0, 10.0))
            return
        while True:
            self.pause(self.course.progress_every)
            if not self.view_progress(None, random.choice(PROGRESS_VIEWS)):
                return  # launch again

    def view_progress(self, url: str | None, options: dict | None = None) -> bool:
        with self.step("progress view") as outcome:
            if url is not None and "/progress/" not in url:
                raise StepFailed(f"the instructor's launch led to {urlsplit(url).path}, not to the progress view")
            page = self.call("GET", url or f"{self.origin}/progress/", 200, "the progress view",
                             params=None if url else {"ltik": self.ltik, **(options or {})})
            outcome.size = len(page.content)
        return outcome.error is None

