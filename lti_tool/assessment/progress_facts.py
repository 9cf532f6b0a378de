"""What the instructor's progress view needs from assessment, given to it through its reader hook.

`submissions` comes before `assessment` (an assessment follows a submitted attempt), so the progress view cannot
import this package: at app start, `init_app` registers `read_progress_facts` with
`submissions.progress.register_assessment_reader`. Only facts an instructor may see leave here: the decision,
the due date, the release time and the released score — never who assesses or their rubric scores.
"""

from __future__ import annotations

from flask import Flask

from lti_tool.assessment.models import Assessment
from lti_tool.extensions import db
from lti_tool.submissions.progress import AssessmentFacts, register_assessment_reader


def read_progress_facts(attempt_ids) -> dict[int, AssessmentFacts]:
    """The assessment facts of each listed attempt that has an assessment, in one query.

    `attempt_ids` is a collection of ids or a SELECT of them (the progress view passes the SELECT of a course's
    latest attempts, so the query count does not grow with the roster).
    """
    rows = db.session.execute(
        db.select(
            Assessment.attempt_id, Assessment.decision, Assessment.due_at, Assessment.released_at,
            Assessment.score_given, Assessment.score_maximum,
        ).where(Assessment.attempt_id.in_(attempt_ids))
    )
    return {
        row.attempt_id: AssessmentFacts(
            decision=row.decision, due_at=row.due_at, released_at=row.released_at,
            score_given=row.score_given, score_maximum=row.score_maximum,
        )
        for row in rows
    }


def init_app(app: Flask) -> None:
    """Give the progress view its assessment facts (call from `create_app`)."""
    register_assessment_reader(app, read_progress_facts)
