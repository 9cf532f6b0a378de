"""What the instructor's progress view needs from assessment, given to it through its facts hook.

`submissions` comes before `assessment` (an assessment follows a submitted attempt), so the progress view cannot
import this package: at app start, `init_app` registers `progress_facts` with
`submissions.progress.register_assessment_facts`. Only facts an instructor may see leave here: the decision,
the due date, the release time and the released score — never who assesses or their rubric scores.
"""

from __future__ import annotations

from flask import Flask

from lti_tool.assessment.models import Assessment
from lti_tool.extensions import db
from lti_tool.submissions.progress import register_assessment_facts


def progress_facts():
    """The assessment facts of every assessed attempt as a SELECT (`progress.ASSESSMENT_FACT_COLUMNS`): the
    progress view joins it on the attempt id, so its filters, sorts and counts run in the database."""
    return db.select(Assessment.attempt_id, Assessment.decision, Assessment.due_at, Assessment.released_at,
                     Assessment.score_given, Assessment.score_maximum)


def init_app(app: Flask) -> None:
    """Give the progress view its assessment facts (call from `create_app`)."""
    register_assessment_facts(app, progress_facts)
