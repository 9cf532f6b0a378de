"""Reports for organizations: figures per micro-credential and term, a chart, the follow-up list, CSV exports.

An admin sees their own platform only (the registration of the launch's deployment); an instructor who is not
an admin sees the course they launched from. Nobody else sees a report.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request

from lti_tool.admin import reports
from lti_tool.catalog.services import current_term
from lti_tool.core.dates import zone_note, zone_of
from lti_tool.core.errors import NotAllowed
from lti_tool.core.ids import parse_id
from lti_tool.core.models import utcnow
from lti_tool.core.spreadsheets import csv_stream_download
from lti_tool.lti import roles
from lti_tool.lti.launch_context import current_launch, require_duty

bp = Blueprint("reports", __name__)


def _scope() -> tuple[reports.ReportScope, list, object]:
    """The launch's scope (platform or course), the terms it can filter by, and the chosen term (or None)."""
    launch = current_launch()
    registration_id = launch.deployment.registration_id
    context_id = None
    if not launch.has_duty(roles.ADMIN):
        if launch.context_id is None:
            raise NotAllowed("Open the report from your course in the LMS.")
        context_id = launch.context_id
    terms = reports.terms_in_scope(registration_id, context_id)
    chosen = next((t for t in terms if t.key == request.args.get("term")), None)  # an allow-list, not the URL
    scope = reports.ReportScope(registration_id=registration_id, context_id=context_id,
                                term_id=chosen.id if chosen else None)
    return scope, terms, chosen


def _zone_term(chosen):
    """The term whose time zone the report's times are in (core/dates): the chosen term, else the current one."""
    return chosen or current_term()


def _csv(header, rows, what: str, term) -> Response:
    """Rows streamed as a CSV download (read while they are sent: memory stays flat for any number of rows)."""
    stamp = utcnow().strftime("%Y-%m-%d")
    return csv_stream_download(header, rows, f"{what}-{term.key if term else 'all-terms'}-{stamp}.csv")


def _page_arg(name: str) -> int:
    """A page number from the query string; anything else (missing, 0, letters, a sign) is the first page."""
    return parse_id(request.args.get(name)) or 1


@bp.get("/admin/reports")
@require_duty(roles.ADMIN, roles.INSTRUCTOR)
def index():
    """The figures as a table and a chart, then the educators to follow up."""
    scope, terms, chosen = _scope()
    report = reports.build_report(scope, page_size=current_app.config["REPORT_PAGE_SIZE"],
                                  follow_up_page=_page_arg("page"), badges_page=_page_arg("badges_page"))
    bars, chart_height = reports.chart_bars(report.lines)
    zone_term = _zone_term(chosen)
    launch = current_launch()
    return render_template(
        "admin/reports.html",
        report=report,
        terms=terms,
        term=chosen,
        is_course_report=scope.context_id is not None,
        course=launch.context if scope.context_id is not None else None,
        registration=launch.deployment.registration,
        bars=bars,
        chart_width=reports.CHART_WIDTH,
        chart_height=chart_height,
        bar_height=reports.CHART_BAR_HEIGHT,
        chart_description=reports.chart_description(report.lines),
        standings=reports.STANDINGS,
        standing_labels=reports.STANDING_LABELS,
        time_zone=zone_of(zone_term),
        time_zone_note=zone_note(zone_term),
    )


@bp.get("/admin/reports.csv")
@require_duty(roles.ADMIN, roles.INSTRUCTOR)
def summary_csv():
    """The figures per micro-credential and term, as a CSV download."""
    scope, _, chosen = _scope()
    return _csv(reports.SUMMARY_HEADER, reports.summary_rows(reports.report_lines(scope)), "report", chosen)


@bp.get("/admin/reports/follow-up.csv")
@require_duty(roles.ADMIN, roles.INSTRUCTOR)
def follow_up_csv():
    """The educators who have not earned yet, with their contact, as a CSV download."""
    scope, _, chosen = _scope()
    return _csv(reports.FOLLOW_UP_HEADER, reports.follow_up_rows(scope), "follow-up", chosen)


@bp.get("/admin/reports/badges.csv")
@require_duty(roles.ADMIN, roles.INSTRUCTOR)
def badges_csv():
    """The educators' badges, when each was issued and whether it was revoked, as a CSV download."""
    scope, _, chosen = _scope()
    time_zone = zone_of(_zone_term(chosen))
    return _csv(reports.BADGES_HEADER, reports.badge_rows(scope, time_zone), "badges", chosen)
