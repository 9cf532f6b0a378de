"""Gradebook models (the outbox)."""
