"""Imports every model so that the metadata (and Alembic) sees them all."""

from lti_tool.assessment.models import *  # noqa: F401,F403
from lti_tool.badges.models import *  # noqa: F401,F403
from lti_tool.catalog.models import *  # noqa: F401,F403
from lti_tool.gradebook.models import *  # noqa: F401,F403
from lti_tool.lti.models import *  # noqa: F401,F403
from lti_tool.mail.models import *  # noqa: F401,F403
from lti_tool.submissions.models import *  # noqa: F401,F403
