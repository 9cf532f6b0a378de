"""The three parts of a submission, always in this order, and their titles as educators read them.

The catalog owns the parts (each micro-credential has prompts per part); submissions import them from here.
"""

from __future__ import annotations

from lti_tool.catalog.models import PARTS

__all__ = ["PARTS", "PART_TITLES"]

PART_TITLES = dict(zip(PARTS, ("Overview", "Work examples and artifacts", "Reflection"), strict=True))
