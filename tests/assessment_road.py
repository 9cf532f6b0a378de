"""The assessment road through real HTTP: an educator submits, assessors score and release (helpers for tests).

Every step is what a person's browser sends: the launch from the platform, the tool's own forms.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from urllib.parse import quote

from tests.platform.browser import PlatformBrowser, forms_in

SLUG = "self-assessment-growth"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def origin_of(response) -> str:
    return re.match(r"^(https?://[^/]+)", response.url).group(1)


def form_fields(response, form_id: str | None = None) -> dict:
    forms = forms_in(response.text)
    form = next(f for f in forms if form_id is None or f["id"] == form_id)
    return form["fields"]


@dataclass
class Submitted:
    """An educator's submitted attempt: their browser, the page they ended on, their launch reference."""

    browser: PlatformBrowser
    page: object
    ltik: str
    attempt_id: int


def submit_work(platform, *, person: str = "learner", slug: str = SLUG, context_id: str = "course-1",
                resource_link_id: str = "activity-1", overview: str = "My goal and plan.",
                file_name: str | None = "lesson-plan.pdf", **plan) -> Submitted:
    """Launch as the educator, write the three parts, add a link (and a file), submit and confirm."""
    browser = PlatformBrowser(platform)
    result = browser.launch(person=person, custom={"microcredential": slug}, context_id=context_id,
                            resource_link_id=resource_link_id, **plan)
    assert result.status_code == 200 and "/submission/" in result.url, result.text[:500]
    page = result.response
    fields = form_fields(page, "attempt-form")
    tool = origin_of(page)
    ids = {"ltik": fields["ltik"], "attempt_id": fields["attempt_id"]}
    saved = browser.post(tool + "/submission/", data={
        **ids, "version": fields["version"], "action": "save", "overview": overview,
        "reflection": "What changed for my students.", "collaboration": "no", "collaborators": ""})
    assert saved.status_code == 200, saved.text[:500]
    linked = browser.post(tool + "/submission/links", data={**ids, "artifact_url": "https://example.org/plan",
                                                            "artifact_title": "My plan"})
    assert linked.status_code == 200, linked.text[:500]
    if file_name:
        uploaded = browser.post(tool + "/artifacts/upload", params={"attempt_id": ids["attempt_id"]}, data=PDF,
                                headers={"Content-Type": "application/octet-stream", "X-Launch-Token": ids["ltik"],
                                         "X-File-Name": quote(file_name), "Accept": "application/json"})
        assert uploaded.status_code == 201, uploaded.text[:500]
    page = browser.get(tool + "/submission/", params={"ltik": ids["ltik"]})
    fields = form_fields(page, "attempt-form")
    asked = browser.post(tool + "/submission/", data={**ids, "version": fields["version"], "action": "submit"})
    assert asked.status_code == 200 and "/confirm" in asked.url, asked.text[:500]
    done = browser.submit_form(asked, index=[f["fields"].get("action") for f in forms_in(asked.text)].index("confirm"))
    assert done.status_code == 200 and "notice=submitted" in done.url, done.text[:500]
    return Submitted(browser=browser, page=done, ltik=ids["ltik"], attempt_id=int(ids["attempt_id"]))


@dataclass
class Assessor:
    browser: PlatformBrowser
    queue: object

    @property
    def ltik(self) -> str:
        return form_fields(self.queue)["ltik"]

    @property
    def tool(self) -> str:
        return origin_of(self.queue)


def launch_assessor(platform, person: str = "assessor", *, context_id: str = "course-1",
                    resource_link_id: str = "activity-1", **plan) -> Assessor:
    """An assessor launches from the course and lands on their queue."""
    browser = PlatformBrowser(platform)
    result = browser.launch(person=person, custom={"microcredential": SLUG}, context_id=context_id,
                            resource_link_id=resource_link_id, **plan)
    assert result.status_code == 200, result.text[:500]
    assert "/assessment/" in result.url, result.url
    return Assessor(browser=browser, queue=result.response)


def open_assessment(assessor: Assessor, assessment_id: int):
    return assessor.browser.get(f"{assessor.tool}/assessment/{assessment_id}", params={"ltik": assessor.ltik})


def score(assessor: Assessor, page, levels: dict, feedback: dict | None = None, action: str = "complete",
          follow: bool = True):
    """Fill the rubric form of a scoring page (`level-<criterion>`, `feedback-<criterion>`) and press `action`."""
    fields = form_fields(page, "scoring-form")
    data = {"ltik": fields["ltik"], "scoring_id": fields["scoring_id"], "version": fields["version"],
            "action": action}
    for key, level in levels.items():
        data[f"level-{key}"] = level
    for key, text in (feedback or {}).items():
        data[f"feedback-{key}"] = text
    action_url = origin_of(page) + re.search(r'<form method="post" action="([^"]+)" id="scoring-form"',
                                             page.text).group(1)
    return assessor.browser.post(action_url, data=data, allow_redirects=follow)


def release(assessor: Assessor, assessment_id: int, follow: bool = True):
    return assessor.browser.post(f"{assessor.tool}/assessment/{assessment_id}",
                                 data={"ltik": assessor.ltik, "action": "release"}, allow_redirects=follow)


def set_microcredential(app, slug: str = SLUG, **settings) -> None:
    """Change how a micro-credential is assessed (double_blind, review_before_release, …), as an admin would."""
    from lti_tool.catalog.services import get_microcredential
    from lti_tool.extensions import db

    with app.app_context():
        microcredential = get_microcredential(slug)
        for name, value in settings.items():
            setattr(microcredential, name, value)
        db.session.commit()


def assessment_ids(app) -> list[int]:
    from lti_tool.assessment.models import Assessment
    from lti_tool.extensions import db

    with app.app_context():
        return list(db.session.scalars(db.select(Assessment.id).order_by(Assessment.id)))


def criteria(app, slug: str = SLUG) -> list[str]:
    from lti_tool.catalog.services import get_microcredential

    with app.app_context():
        return [c.key for c in get_microcredential(slug).criteria]


def all_levels(app, level: str, slug: str = SLUG, **overrides) -> dict:
    return {key: overrides.get(key, level) for key in criteria(app, slug)}


def at_once(*calls):
    """Run the calls in threads released together (two people pressing at the same moment); their answers."""
    barrier = threading.Barrier(len(calls))
    answers = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        answers[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return answers
