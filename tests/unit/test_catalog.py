"""The catalog: the shipped file loads, loading is idempotent, export round-trips, problems name file:line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import render_template

from lti_tool.catalog.models import MicroCredential, RubricCriterion, Term
from lti_tool.catalog.schema import CatalogError, load_catalog_file
from lti_tool.catalog.services import (
    current_term,
    export_catalog,
    get_microcredential,
    list_microcredentials,
    load_catalog,
)
from lti_tool.extensions import db

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "catalog.yaml"
SLUGS = ["self-assessment-growth", "feedback-to-promote-learning"]


def shipped_text() -> str:
    return SHIPPED.read_text(encoding="utf-8")


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    """The 1-based line of the n-th line containing `fragment`."""
    hits = [number for number, line in enumerate(text.splitlines(), start=1) if fragment in line]
    return hits[occurrence - 1]


def replace_nth(text: str, old: str, new: str, occurrence: int) -> str:
    start = -1
    for _ in range(occurrence):
        start = text.index(old, start + 1)
    return text[:start] + new + text[start + len(old):]


def problems_of(path: Path) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_catalog_file(path)
    return caught.value.problems


# ---------------------------------------------------------------------------------------------- the shipped file


def test_shipped_catalog_loads_both_samples_with_their_rubric(app_context):
    report = load_catalog()
    assert report.created == SLUGS
    assert (report.microcredential_count, report.term_count) == (2, 1)
    assert [mc.slug for mc in list_microcredentials()] == SLUGS

    mc = get_microcredential("feedback-to-promote-learning")
    assert mc.title == "Providing Feedback to Promote Learning"
    assert mc.issuing_organization == "Division of Elementary and Secondary Education"
    assert (mc.estimated_hours, mc.inservice_hours, mc.estimated_time_label) == (6, 6, "6 hours")
    assert [level.key for level in mc.levels] == ["not_yet", "developing", "demonstrated"]
    assert mc.required_level.label == "Demonstrated"
    assert 3 <= len(mc.criteria) <= 4
    for criterion in mc.criteria:
        assert set(criterion.descriptors) == {"not_yet", "developing", "demonstrated"}
        assert all(text.strip() for text in criterion.descriptors.values())
    assert {criterion.part for criterion in mc.criteria} <= {"overview", "artifacts", "reflection"}
    for part in ("overview", "artifacts", "reflection"):
        assert mc.prompts_for(part), part
    assert mc.meets_required_level("demonstrated") and not mc.meets_required_level("developing")
    assert get_microcredential("self-assessment-growth").title == "Educator Self-Assessment and Professional Growth"


def test_shipped_term_is_stored_in_utc_from_its_time_zone(app_context):
    load_catalog()
    term = db.session.scalar(db.select(Term).filter_by(key="2026-2027"))
    assert term.time_zone == "America/New_York" and term.earner_limit == 100
    # 2027-06-15 end of day in New York (EDT, UTC-4) is 03:59:59 UTC the next day.
    assert term.final_deadline_at == datetime(2027, 6, 16, 3, 59, 59, tzinfo=UTC)
    assert term.enrollment_opens_at == datetime(2026, 8, 17, 4, 0, tzinfo=UTC)
    assert current_term(datetime(2027, 1, 10, tzinfo=UTC)).key == "2026-2027"
    assert term.is_enrollment_open(datetime(2027, 1, 10, tzinfo=UTC))
    assert not term.is_enrollment_open(datetime(2027, 4, 10, tzinfo=UTC))


def test_loading_twice_changes_nothing(app_context):
    load_catalog()
    db.session.commit()
    stamps = {mc.slug: mc.updated_at for mc in list_microcredentials()}
    criterion_ids = sorted(db.session.scalars(db.select(RubricCriterion.id)))

    again = load_catalog()
    assert not again.changed
    assert again.unchanged == SLUGS and again.terms_unchanged == ["2026-2027"]
    assert not db.session.dirty and not db.session.new
    db.session.commit()
    db.session.expire_all()
    assert {mc.slug: mc.updated_at for mc in list_microcredentials()} == stamps
    assert sorted(db.session.scalars(db.select(RubricCriterion.id))) == criterion_ids
    assert db.session.scalar(db.select(db.func.count()).select_from(MicroCredential)) == 2


def test_a_changed_file_updates_by_slug(app_context, tmp_path):
    load_catalog()
    changed = tmp_path / "catalog.yaml"
    text = shipped_text().replace("title: Providing Feedback to Promote Learning", "title: Feedback That Moves")
    changed.write_text(text.replace("label: Developing", "label: Approaching", 1), encoding="utf-8")

    report = load_catalog(changed)
    assert report.updated == SLUGS and report.created == []
    assert get_microcredential("feedback-to-promote-learning").title == "Feedback That Moves"
    assert get_microcredential("self-assessment-growth").levels[1].label == "Approaching"


def test_export_then_load_round_trips(app_context, tmp_path):
    load_catalog()
    exported = tmp_path / "exported.yaml"
    exported.write_text(export_catalog(), encoding="utf-8")

    assert load_catalog_file(exported) == load_catalog_file(SHIPPED)
    report = load_catalog(exported)
    assert not report.changed and report.unchanged == SLUGS


def test_a_slug_removed_from_the_file_is_retired_not_deleted(app_context, tmp_path):
    load_catalog()
    data_text = shipped_text()
    start = data_text.index("  - slug: feedback-to-promote-learning")
    end = data_text.index("\nterms:")
    smaller = tmp_path / "catalog.yaml"
    smaller.write_text(data_text[:start] + data_text[end:], encoding="utf-8")

    report = load_catalog(smaller)
    assert report.retired == ["feedback-to-promote-learning"]
    assert get_microcredential("feedback-to-promote-learning") is None
    assert [mc.slug for mc in list_microcredentials()] == ["self-assessment-growth"]
    retired = get_microcredential("feedback-to-promote-learning", include_retired=True)
    assert retired is not None and retired.is_retired and len(retired.criteria) == 4

    assert load_catalog().created == []  # back in the file: active again, same row
    assert get_microcredential("feedback-to-promote-learning").id == retired.id


# ---------------------------------------------------------------------------------------------- broken files


def test_unknown_required_level_names_file_line_and_key(tmp_path):
    text = replace_nth(shipped_text(), "required_level: demonstrated", "required_level: expert", 2)
    broken = tmp_path / "catalog.yaml"
    broken.write_text(text, encoding="utf-8")
    line = line_of(text, "required_level: expert")
    assert problems_of(broken) == [
        f"{broken}:{line}: microcredentials[1].rubric.required_level: "
        "'expert' is not one of the levels (not_yet, developing, demonstrated)"
    ]


def test_duplicate_slug_is_reported_on_the_second(tmp_path):
    text = shipped_text().replace("slug: feedback-to-promote-learning", "slug: self-assessment-growth")
    broken = tmp_path / "catalog.yaml"
    broken.write_text(text, encoding="utf-8")
    line = line_of(text, "slug: self-assessment-growth", occurrence=2)
    assert problems_of(broken) == [
        f"{broken}:{line}: microcredentials[1].slug: duplicate slug 'self-assessment-growth' (also microcredentials[0])"
    ]


def test_missing_title_names_the_micro_credential(tmp_path):
    text = shipped_text().replace("    title: Educator Self-Assessment and Professional Growth\n", "")
    broken = tmp_path / "catalog.yaml"
    broken.write_text(text, encoding="utf-8")
    line = line_of(text, "- slug: self-assessment-growth")
    assert problems_of(broken) == [f"{broken}:{line}: microcredentials[0]: 'title' is a required property"]


def test_bad_time_zone_and_dates_out_of_order(tmp_path):
    text = shipped_text().replace("time_zone: America/New_York", "time_zone: Eastern/Springfield")
    text = text.replace('final_deadline_at: "2027-06-15"', 'final_deadline_at: "2027-02-30"')
    broken = tmp_path / "catalog.yaml"
    broken.write_text(text, encoding="utf-8")
    assert problems_of(broken) == [
        f"{broken}:{line_of(text, 'final_deadline_at')}: terms[0].final_deadline_at: '2027-02-30' is not a real date",
        f"{broken}:{line_of(text, 'time_zone: Eastern')}: terms[0].time_zone: "
        "'Eastern/Springfield' is not an IANA time zone (e.g. 'America/New_York')",
    ]


def test_yaml_syntax_error_names_the_line(tmp_path):
    text = shipped_text().replace("  - slug: feedback-to-promote-learning", "  - slug: [feedback-to-promote-learning")
    broken = tmp_path / "catalog.yaml"
    broken.write_text(text, encoding="utf-8")
    problems = problems_of(broken)
    assert len(problems) == 1
    file_line, _, reason = problems[0].partition(": ")
    assert file_line.startswith(f"{broken}:")
    # The error is found at or after the unclosed bracket, never before it.
    assert int(file_line.rsplit(":", 1)[1]) >= line_of(text, "slug: [feedback")
    assert reason.startswith("YAML syntax error")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("part: reflection", "part: conclusion", "rubric.criteria[3].part: 'conclusion' is not one of the parts"),
        ("      not_yet: >-\n", "      nope: >-\n", "criteria[0].descriptors: no descriptor for level 'not_yet'"),
        ("slug: self-assessment-growth", "slug: Self_Assessment", "microcredentials[0].slug: 'Self_Assessment' is not"),
        ("estimated_hours: 6", "estimated_hours: six", "microcredentials[0].estimated_hours: 'six' is not of type"),
        ("    key_method: >-", "    key_methods: >-", "microcredentials[0].key_methods: unknown key 'key_methods'"),
        ('enrollment_closes_at: "2027-03-31"', 'enrollment_closes_at: "2026-03-31"',
         "terms[0].enrollment_closes_at: '2026-03-31' must be after enrollment_opens_at"),
    ],
)
def test_semantic_and_schema_problems(tmp_path, old, new, expected):
    assert old in shipped_text()
    broken = tmp_path / "catalog.yaml"
    broken.write_text(shipped_text().replace(old, new, 1), encoding="utf-8")
    problems = problems_of(broken)
    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith(f"{broken}:") for problem in problems)


def test_broken_file_loads_nothing(app_context, tmp_path):
    broken = tmp_path / "catalog.yaml"
    broken.write_text(shipped_text().replace("required_level: demonstrated", "required_level: expert"), "utf-8")
    with pytest.raises(CatalogError):
        load_catalog(broken)
    assert list_microcredentials(include_retired=True) == []


# ---------------------------------------------------------------------------------------------- commands


def test_cli_load_list_export(runner, tmp_path):
    result = runner.invoke(args=["catalog", "load"])
    assert result.exit_code == 0, result.output
    assert "loaded 2 micro-credentials, 1 terms" in result.output

    result = runner.invoke(args=["catalog", "list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:2] == ["self-assessment-growth", "active"]
    assert "Providing Feedback to Promote Learning" in lines[1]

    output = tmp_path / "out.yaml"
    result = runner.invoke(args=["catalog", "export", "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert load_catalog_file(output) == load_catalog_file(SHIPPED)

    result = runner.invoke(args=["catalog", "export"])
    assert "slug: feedback-to-promote-learning" in result.output


def test_cli_load_reports_every_problem_and_fails(runner, app, tmp_path):
    text = shipped_text().replace("required_level: demonstrated", "required_level: expert")
    broken = tmp_path / "catalog.yaml"
    broken.write_text(text, encoding="utf-8")
    result = runner.invoke(args=["catalog", "load", "--file", str(broken)])
    assert result.exit_code != 0
    assert f"{broken}:{line_of(text, 'required_level: expert', 1)}: microcredentials[0]" in result.output
    assert f"{broken}:{line_of(text, 'required_level: expert', 2)}: microcredentials[1]" in result.output
    with app.app_context():
        assert list_microcredentials(include_retired=True) == []


# ---------------------------------------------------------------------------------------------- templates


def test_picker_renders_a_choice_per_micro_credential(app):
    with app.test_request_context():
        load_catalog()
        html = render_template(
            "catalog/_picker.html", microcredentials=list_microcredentials(),
            picker_action="/lti/bind", picker_hidden={"ltik": "abc<&>"},
        )
        summary = render_template("catalog/_summary.html", microcredential=get_microcredential(SLUGS[0]))
    assert '<form method="post" action="/lti/bind">' in html
    assert '<input type="hidden" name="ltik" value="abc&lt;&amp;&gt;">' in html
    for slug in SLUGS:
        assert f'name="microcredential" value="{slug}"' in html
    assert "<h2>Educator Self-Assessment and Professional Growth</h2>" in summary
    assert "<dd>6 hours</dd>" in summary


def test_picker_empty_state(app):
    with app.test_request_context():
        html = render_template("catalog/_picker.html", microcredentials=[], picker_action="/x", picker_hidden={})
    assert "No micro-credentials are available yet" in html
    assert "<form" not in html


def test_cli_load_if_empty_keeps_what_admins_changed(runner, app_context):
    from lti_tool.catalog.services import get_microcredential
    from lti_tool.extensions import db

    assert runner.invoke(args=["catalog", "load", "--if-empty"]).exit_code == 0
    get_microcredential("self-assessment-growth").title = "Renamed by an admin"
    db.session.commit()

    again = runner.invoke(args=["catalog", "load", "--if-empty"])
    assert again.exit_code == 0
    assert "kept as it is" in again.output
    db.session.expire_all()
    assert get_microcredential("self-assessment-growth").title == "Renamed by an admin"
