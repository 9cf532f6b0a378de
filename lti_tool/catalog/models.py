"""Catalog models (micro-credentials, rubrics, terms)."""
