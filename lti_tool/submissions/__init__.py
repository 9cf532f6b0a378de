"""Submissions: the educator's enrollment, attempts and artifacts."""
