"""pytest fixtures for the independent test platform (filled in by the platform work)."""
