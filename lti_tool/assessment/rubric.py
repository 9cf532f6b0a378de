"""The rubric's rules: the decision and the score are computed from the levels, never typed.

Score rule (README, "Grades in the LMS"): the share of criteria at or above the required level, times the
line item's `scoreMaximum`. Earned means every criterion meets it, so an earned attempt always scores the
maximum and a not-yet attempt at most (n-1)/n of it.
"""

from __future__ import annotations

from lti_tool.assessment.models import Decision
from lti_tool.core.errors import InvalidInput

MAX_FEEDBACK_LENGTH = 20_000


def criteria_met(microcredential, levels: dict) -> int:
    """How many criteria are scored at or above the required level."""
    return sum(1 for c in microcredential.criteria if microcredential.meets_required_level(levels.get(c.key, "")))


def decision_for(microcredential, levels: dict) -> Decision:
    """Earned when every criterion reaches the required level (DESIGN: the earning rule), else Not yet."""
    total = len(microcredential.criteria)
    return Decision.EARNED if total and criteria_met(microcredential, levels) == total else Decision.NOT_YET


def score_for(microcredential, levels: dict, score_maximum: float) -> float:
    """The share of criteria met, times the line item's maximum (rounded to 4 places, never above it)."""
    total = len(microcredential.criteria) or 1
    return min(round(criteria_met(microcredential, levels) / total * score_maximum, 4), score_maximum)


def summary_for(microcredential, levels: dict) -> str:
    """One line for the LMS comment: the decision and what it rests on."""
    total = len(microcredential.criteria)
    met = criteria_met(microcredential, levels)
    required = microcredential.required_level.label if microcredential.required_level else "the required level"
    if decision_for(microcredential, levels) == Decision.EARNED:
        return f"Earned: all {total} criteria at {required} or above."
    below = [c.title for c in microcredential.criteria
             if not microcredential.meets_required_level(levels.get(c.key, ""))]
    return f"Not yet: {met} of {total} criteria at {required}. Revise: {'; '.join(below)}."


def clean_scoring_form(microcredential, form) -> tuple[dict, dict]:
    """Levels (`level-<criterion key>`) and feedback (`feedback-<criterion key>`) from a form; unknown levels refused.

    A criterion left without a level is simply not scored yet (a draft may be partial).
    """
    level_keys = {level.key for level in microcredential.levels}
    levels, feedback = {}, {}
    for criterion in microcredential.criteria:
        level = (form.get(f"level-{criterion.key}") or "").strip()
        if level:
            if level not in level_keys:
                raise InvalidInput(f"“{level}” is not a level of this rubric (criterion “{criterion.title}”).")
            levels[criterion.key] = level
        text = (form.get(f"feedback-{criterion.key}") or "").replace("\r\n", "\n")
        if len(text) > MAX_FEEDBACK_LENGTH:
            raise InvalidInput(
                f"The feedback on “{criterion.title}” is longer than {MAX_FEEDBACK_LENGTH:,} characters.")
        if text.strip():
            feedback[criterion.key] = text
    return levels, feedback


def completion_problems(microcredential, levels: dict, feedback: dict) -> list[str]:
    """What stops a scoring from being complete: a criterion with no level, or below the required level
    without feedback (DESIGN: feedback is required for every criterion below the required level)."""
    problems = []
    for criterion in microcredential.criteria:
        level = levels.get(criterion.key)
        if not level:
            problems.append(f"Choose a level for “{criterion.title}”.")
        elif not microcredential.meets_required_level(level) and not (feedback.get(criterion.key) or "").strip():
            problems.append(f"Write feedback for “{criterion.title}”: it is below the required level.")
    return problems
