"""What happens to an educator's work, for the packages that follow it (assessment) without being imported here."""

from blinker import Namespace

_signals = Namespace()

# sender: the Attempt, just submitted (in the request's transaction); receivers flush, never commit.
attempt_submitted = _signals.signal("attempt-submitted")

# sender: the Enrollment whose submission page is being shown (GET, in the request's transaction), with `now`.
# Receivers return the notices of what changed since the educator's last visit (a list of str); they flush.
submission_page_viewed = _signals.signal("submission-page-viewed")
