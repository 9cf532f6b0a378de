"""The rules of assessment that need no HTTP: business days, the computed decision and score, the summary."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from lti_tool.assessment import rubric
from lti_tool.assessment.models import Decision
from lti_tool.core.dates import add_business_days, parse_holidays

LEVELS = ["not_yet", "developing", "demonstrated"]


def _microcredential(criteria=("a", "b", "c", "d"), required="demonstrated"):
    """A rubric as the catalog models answer for it: levels lowest first, a required level, criteria."""
    levels = [SimpleNamespace(key=k, label=k.replace("_", " ").capitalize()) for k in LEVELS]

    def rank(key):
        return LEVELS.index(key) if key in LEVELS else None

    return SimpleNamespace(
        criteria=[SimpleNamespace(key=k, title=f"Criterion {k.upper()}", part="overview") for k in criteria],
        levels=levels,
        required_level=levels[LEVELS.index(required)],
        meets_required_level=lambda key: rank(key) is not None and rank(key) >= rank(required),
    )


def test_fourteen_business_days_skip_weekends():
    monday = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
    assert add_business_days(monday, 14) == datetime(2026, 12, 25, 15, 30, tzinfo=UTC)  # a Friday


def test_a_friday_submission_counts_from_monday():
    friday = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    assert add_business_days(friday, 1) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_holidays_are_skipped_like_weekends():
    monday = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    holidays = parse_holidays("2026-12-25, 2027-01-01")
    assert add_business_days(monday, 14, holidays) == datetime(2026, 12, 28, 9, 0, tzinfo=UTC)


def test_a_bad_holiday_is_named():
    with pytest.raises(ValueError, match="'2026-13-01'"):
        parse_holidays(["2026-12-25", "2026-13-01"])
    assert parse_holidays([date(2026, 1, 1)]) == frozenset({date(2026, 1, 1)})


def test_earned_only_when_every_criterion_meets_the_required_level():
    mc = _microcredential()
    assert rubric.decision_for(mc, dict.fromkeys("abcd", "demonstrated")) == Decision.EARNED
    assert rubric.decision_for(mc, {**dict.fromkeys("abc", "demonstrated"), "d": "developing"}) == Decision.NOT_YET
    assert rubric.decision_for(mc, dict.fromkeys("abc", "demonstrated")) == Decision.NOT_YET  # one unscored


@pytest.mark.parametrize("maximum", [1.0, 10.0, 100.0])
def test_an_earned_attempt_always_scores_above_any_not_yet(maximum):
    mc = _microcredential()
    earned = rubric.score_for(mc, dict.fromkeys("abcd", "demonstrated"), maximum)
    best_not_yet = rubric.score_for(mc, {**dict.fromkeys("abc", "demonstrated"), "d": "developing"}, maximum)
    assert earned == maximum
    assert best_not_yet == pytest.approx(0.75 * maximum)
    assert rubric.score_for(mc, dict.fromkeys("abcd", "not_yet"), maximum) == 0


def test_the_summary_names_what_to_revise():
    mc = _microcredential()
    summary = rubric.summary_for(mc, {**dict.fromkeys("ab", "demonstrated"), "c": "developing", "d": "not_yet"})
    assert summary == "Not yet: 2 of 4 criteria at Demonstrated. Revise: Criterion C; Criterion D."
    assert rubric.summary_for(mc, dict.fromkeys("abcd", "demonstrated")) == (
        "Earned: all 4 criteria at Demonstrated or above.")


def test_completion_needs_a_level_everywhere_and_feedback_below_the_required_level():
    mc = _microcredential(criteria=("a", "b", "c"))
    problems = rubric.completion_problems(mc, {"a": "demonstrated", "b": "developing"}, {"a": "fine"})
    assert problems == ["Write feedback for “Criterion B”: it is below the required level.",
                        "Choose a level for “Criterion C”."]
    assert rubric.completion_problems(mc, dict.fromkeys("abc", "demonstrated"), {}) == []


def test_a_form_level_outside_the_rubric_is_refused():
    from lti_tool.core.errors import InvalidInput

    mc = _microcredential(criteria=("a",))
    with pytest.raises(InvalidInput, match="“excellent” is not a level"):
        rubric.clean_scoring_form(mc, {"level-a": "excellent"})
    assert rubric.clean_scoring_form(mc, {"level-a": "developing", "feedback-a": "Add\r\nevidence"}) == (
        {"a": "developing"}, {"a": "Add\nevidence"})
