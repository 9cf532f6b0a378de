"""The instructor's view of the course's progress: counts per state and flag, a filtered and sorted table with
the assessment due dates and the grades the LMS holds, a CSV export.

Opening the page reads the LMS roster (NRPS) when it was never read or is older than `progress.ROSTER_MAX_AGE`,
so that learners who never opened the activity are listed as "not started" from the first visit; the
"Refresh roster" button reads it at any time. Where the LMS offers no roster service, there is no button.
"""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, request, url_for

from lti_tool.catalog.binding import microcredential_of
from lti_tool.catalog.services import current_term
from lti_tool.core.dates import zone_note, zone_of
from lti_tool.core.errors import Conflict
from lti_tool.core.models import utcnow
from lti_tool.core.spreadsheets import csv_stream_download
from lti_tool.lti import roles
from lti_tool.lti.launch_context import current_launch, require_duty
from lti_tool.submissions import progress

bp = Blueprint("progress", __name__, url_prefix="/progress")

PAGE_SIZE = 250  # rows per page: a 20,000-educator course stays light inside the LMS iframe; the CSV has all


def _course_and_activity():
    """The course and activity of the launch itself: an instructor sees only the course they launched from."""
    launch = current_launch()
    context, resource_link = launch.context, launch.resource_link
    if context is None or resource_link is None or resource_link.context_id != context.id:
        abort(404, "Open this page from the micro-credential activity in your course.")
    return context, resource_link


def _view_options() -> dict:
    """Filter and sort from the query string, by allow-list (anything else falls back to the default)."""
    status = request.args.get("status")
    sort = request.args.get("sort")
    return {
        "status": status if status in progress.FILTERS else None,
        "sort": sort if sort in progress.SORTS else "name",
        "descending": request.args.get("dir") == "desc",
    }


def _render_index(*, sync_error: str | None = None, synced: int | None = None, status_code: int = 200,
                  refresh: bool = False):
    context, resource_link = _course_and_activity()
    if refresh:
        sync_error = progress.refresh_stale_roster(context) or sync_error
    options = _view_options()
    table = progress.progress_page(context, resource_link, **options, page=request.args.get("page", 1, type=int),
                                   page_size=PAGE_SIZE)
    # The grades the LMS holds now (one results call, cached a minute): shown next to the released scores.
    lms_grades = progress.current_lms_grades(resource_link)
    term = current_term()
    return render_template(
        "submissions/progress.html",
        course=context,
        resource_link=resource_link,
        microcredential=microcredential_of(resource_link),
        user=current_launch().user,
        counts=table.counts,
        total=table.total,
        rows=table.rows,
        lms_grades=lms_grades,
        grade_checks={row.user_id: progress.check_grade(row, lms_grades) for row in table.rows},
        matching=table.matching,
        first=table.first,
        page=table.page,
        pages=table.pages,
        states=progress.STATES,
        state_labels=progress.STATE_LABELS,
        flags=progress.FLAGS,
        flag_labels=progress.FLAG_LABELS,
        sync_error=sync_error,
        synced=synced,
        roster_synced_at=context.roster_synced_at,
        roster_offered=bool(context.memberships_url),
        roster_max_age_minutes=int(progress.ROSTER_MAX_AGE.total_seconds() // 60),
        # One zone for the whole table (core/dates): the current term's, named once above it.
        time_zone=zone_of(term),
        time_zone_note=zone_note(term),
        **options,
    ), status_code


@bp.get("/")
@require_duty(roles.INSTRUCTOR)
def index():
    """Counts per state (as filter links) and one row per educator, filtered and sorted."""
    synced = request.args.get("synced", type=int)
    return _render_index(synced=synced, refresh=True)


@bp.post("/sync")
@require_duty(roles.INSTRUCTOR)
def sync():
    """Refresh the roster from the LMS (NRPS); when the LMS fails, the last known roster stays and says so."""
    context, _ = _course_and_activity()
    if not context.memberships_url:  # the page offers no button then; a request made anyway changes nothing
        raise Conflict("This LMS does not offer its roster to the tool, so there is nothing to refresh.",
                       hint="The list shows the educators who have opened the activity. To list the whole course, "
                            "ask your LMS administrator to enable the roster service (Names and Role Provisioning).")
    try:
        count = progress.sync_roster(context)
    except progress.RosterUnavailable as error:
        # 502: the request rolls back, so nothing half-read is kept; the page still shows the last known roster.
        return _render_index(sync_error=str(error), status_code=502)
    return redirect(url_for("progress.index", ltik=g.ltik, synced=count), code=303)


@bp.get("/export.csv")
@require_duty(roles.INSTRUCTOR)
def export_csv():
    """The table as CSV, as a download streamed while the rows are read (memory stays flat for any course); cells
    that a spreadsheet would run as formulas are neutralised."""
    context, resource_link = _course_and_activity()
    rows = progress.progress_rows(context, resource_link, **_view_options())
    return csv_stream_download(progress.CSV_HEADER, progress.csv_cells(rows, zone_of(current_term())),
                               f"progress-{context.label or context.context_id}-{utcnow():%Y-%m-%d}.csv")
