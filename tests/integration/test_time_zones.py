"""One rule for times (lti_tool/core/dates.py): every time a person reads is in the term's time zone, and the zone
is named — the submission page, the autosave answer, the instructor's progress view and its CSV, through real HTTP.

The term runs in Pacific/Auckland (UTC+13 in December, +12 in June), far from UTC and from the test machine, so
a time shown in any other zone could not pass for it. Expected labels are written here with `strftime`, not with
the tool's own function.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from lti_tool.extensions import db
from tests.assessment_road import submit_work
from tests.conftest import FAR_ZONE
from tests.platform.browser import PlatformBrowser, forms_in

pytestmark = pytest.mark.usefixtures("running_term")

SLUG = "self-assessment-growth"
ZONE = FAR_ZONE


def _saved_moment(app, attempt_id: str) -> datetime:
    from lti_tool.submissions.models import Attempt

    with app.app_context():
        return db.session.get(Attempt, int(attempt_id)).content_changed_at


def _origin(response) -> str:
    return re.match(r"^(https?://[^/]+)", response.url).group(1)


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_the_same_instant_shows_in_the_terms_zone_everywhere_with_the_zone_named(app, platform, live_tool,
                                                                                 auckland_term):
    learner = PlatformBrowser(platform)
    launched = learner.launch(person="learner", custom={"microcredential": SLUG})
    assert launched.status_code == 200, launched.text[:500]
    fields = forms_in(launched.text)[0]["fields"]
    origin = _origin(launched.response)

    saved = learner.post(origin + "/submission/autosave",
                         data={"attempt_id": fields["attempt_id"], "version": fields["version"],
                               "overview": "Typed in Auckland"},
                         headers={"X-Launch-Token": fields["ltik"], "Accept": "application/json"})
    assert saved.status_code == 200, saved.text
    moment = _saved_moment(app, fields["attempt_id"])
    local = moment.astimezone(ZoneInfo(ZONE))
    assert local.utcoffset() != moment.astimezone(ZoneInfo("UTC")).utcoffset()  # the zones really differ

    # The autosave answer: the time written by the server, in the term's zone, named.
    answer = saved.json()
    assert answer["saved_label"] == f"{local:%-I:%M %p %Z} ({ZONE})"
    assert datetime.fromisoformat(answer["saved_at"]) == moment

    # The submission page: the same instant, the same zone named.
    page = learner.get(origin + "/submission/", params={"ltik": fields["ltik"]})
    assert page.status_code == 200
    last_modified = _text(page.text.split(">Last modified</th>", 1)[1].split("</tr>", 1)[0])
    assert last_modified.strip() == f"{local:%A, %-d %B %Y, %-I:%M %p %Z} ({ZONE})"

    # The instructor's progress view: the same local time, the zone named above the table.
    instructor = PlatformBrowser(platform)
    progress = instructor.launch(person="instructor", custom={"microcredential": SLUG})
    assert progress.status_code == 200, progress.text[:500]
    view = instructor.get(origin + "/progress/", params={"ltik": progress.ltik})
    row = view.text.split("<td>Ada Lovelace</td>", 1)[1].split("</tr>", 1)[0]
    assert f"{local:%d %b %Y, %-I:%M %p %Z}" in _text(row)
    assert f'data-time-zone="{ZONE}"' in view.text
    assert f"Times are in {ZONE}" in _text(view.text)

    # The CSV: ISO 8601 with the zone's offset, and the zone named in its own column.
    export = instructor.get(origin + "/progress/export.csv", params={"ltik": progress.ltik})
    table = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    header, ada = table[0], next(r for r in table[1:] if r[0] == "Ada Lovelace")
    assert header[-1] == "Time zone" and ada[-1] == ZONE
    written = datetime.fromisoformat(ada[header.index("Last modified")])
    assert written == moment and written.utcoffset() == local.utcoffset()


def test_a_page_for_many_terms_names_its_zone_and_a_badge_report_exports_it(app, platform, live_tool,
                                                                             auckland_term):
    """The organizations' report: the zone of the (current) term, named on the page and in the badges CSV."""
    admin = PlatformBrowser(platform)
    launched = admin.launch(person="admin", custom={"microcredential": SLUG})
    assert launched.status_code == 200, launched.text[:500]
    origin = _origin(launched.response)
    report = admin.get(origin + "/admin/reports", params={"ltik": launched.ltik})
    assert report.status_code == 200
    assert f'data-time-zone="{ZONE}"' in report.text and f"Times are in {ZONE}" in _text(report.text)
    badges = admin.get(origin + "/admin/reports/badges.csv", params={"ltik": launched.ltik})
    assert list(csv.reader(io.StringIO(badges.content.decode("utf-8-sig"))))[0][-1] == "Time zone"

    # The lists of many terms name the current term's zone in their headings: the assessor queue, the badge list.
    submit_work(platform)
    for path in ("/assessment/",):
        listing = admin.get(origin + path, params={"ltik": launched.ltik})
        assert listing.status_code == 200, (path, listing.text[:300])
        assert f"({ZONE})" in _text(listing.text), path
        assert "(UTC)" not in _text(listing.text), path
