"""What happens to an educator's work, for the packages that follow it (assessment) without being imported here."""

from blinker import Namespace

_signals = Namespace()

# sender: the Attempt, just submitted (in the request's transaction); receivers flush, never commit.
attempt_submitted = _signals.signal("attempt-submitted")
