"""The catalog file's schema and its loader: every problem is reported as `file:line: key: problem`."""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from jsonschema import Draft202012Validator

from lti_tool.catalog.models import PARTS
from lti_tool.core.errors import InvalidInput

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
KEY_PATTERN = r"^[a-z0-9]+([_-][a-z0-9]+)*$"
LOCAL_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?$"
TERM_DATES = ("enrollment_opens_at", "enrollment_closes_at", "recommended_submission_at", "final_deadline_at")
REOPEN_RULES = ("manual", "untilpass")  # Moodle's attemptreopenmethod: someone reopens it, or until earned
MAX_ATTEMPTS_LIMIT = 20
# How a micro-credential is assessed when its entry has no `assessment:` block (or leaves a key out).
ASSESSMENT_DEFAULTS = {
    "instructors_may_assess": False,
    "review_before_release": False,
    "double_blind": False,
    "reopen_rule": "untilpass",
    "max_attempts": 3,
}

_text = {"type": "string", "minLength": 1}
_prompts = {"type": "object", "additionalProperties": False, "required": ["prompts"],
            "properties": {"prompts": {"type": "array", "minItems": 1, "items": _text}}}

CATALOG_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "issuer", "microcredentials"],
    "properties": {
        "version": {"const": 1},
        "issuer": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": _text,
                "url": {"type": ["string", "null"], "pattern": "^https?://"},
                "email": {"type": ["string", "null"], "pattern": "^[^@\\s]+@[^@\\s]+$"},
                "description": {"type": ["string", "null"]},
            },
        },
        "microcredentials": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["slug", "title", "issuing_organization", "competency", "key_method",
                             "estimated_hours", "inservice_hours", "parts", "rubric", "earning_rule"],
                "properties": {
                    "slug": {"type": "string", "maxLength": 120},
                    "title": {**_text, "maxLength": 300},
                    "issuing_organization": {**_text, "maxLength": 300},
                    "competency": _text,
                    "key_method": _text,
                    "estimated_hours": {"type": "integer", "minimum": 0},
                    "inservice_hours": {"type": "integer", "minimum": 0},
                    "description": {"type": ["string", "null"]},
                    "resources": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["title", "url"],
                            "properties": {"title": _text, "url": {"type": "string", "pattern": "^https?://\\S+$"}},
                        },
                    },
                    "badge_image": {"type": ["string", "null"], "maxLength": 500},
                    "badge_valid_months": {"type": ["integer", "null"], "minimum": 1, "maximum": 600},
                    "parts": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": list(PARTS),
                        "properties": {part: _prompts for part in PARTS},
                    },
                    "rubric": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["levels", "required_level", "criteria"],
                        "properties": {
                            "levels": {
                                "type": "array",
                                "minItems": 2,
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["key", "label"],
                                    "properties": {"key": {"type": "string", "maxLength": 50},
                                                   "label": {**_text, "maxLength": 100}},
                                },
                            },
                            "required_level": {"type": "string"},
                            "criteria": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["key", "title", "part", "descriptors"],
                                    "properties": {
                                        "key": {"type": "string", "maxLength": 50},
                                        "title": {**_text, "maxLength": 300},
                                        "part": {"type": "string"},
                                        "descriptors": {"type": "object", "additionalProperties": _text},
                                    },
                                },
                            },
                        },
                    },
                    "earning_rule": _text,
                    "assessment": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "instructors_may_assess": {"type": "boolean"},
                            "review_before_release": {"type": "boolean"},
                            "double_blind": {"type": "boolean"},
                            "reopen_rule": {"enum": list(REOPEN_RULES)},
                            "max_attempts": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS_LIMIT},
                        },
                    },
                },
            },
        },
        "terms": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "title", *TERM_DATES, "time_zone", "earner_limit"],
                "properties": {
                    "key": {"type": "string", "minLength": 1, "maxLength": 50},
                    "title": {**_text, "maxLength": 200},
                    **{name: {"type": "string", "pattern": LOCAL_TIME_PATTERN} for name in TERM_DATES},
                    "time_zone": {"type": "string"},
                    "earner_limit": {"type": ["integer", "null"], "minimum": 1},
                },
            },
        },
    },
}


class CatalogError(InvalidInput):
    """The catalog file cannot be loaded; `problems` lists each one as `file:line: key: problem`."""

    title = "The catalog file has problems"

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# ---------------------------------------------------------------------------------------------- YAML with lines


class _MarkedDict(dict):
    """A mapping that remembers the line of each of its keys."""

    line = 1

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.key_lines: dict = {}


class _MarkedList(list):
    """A sequence that remembers the line of each of its items."""

    line = 1

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.item_lines: list[int] = []


class _Loader(yaml.SafeLoader):
    """Safe YAML that keeps line numbers, keeps dates as text and notices duplicate keys."""

    # Dates stay strings: the schema checks their form, and the term's time zone gives them meaning.
    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicate_keys: list[tuple[int, str]] = []


def _construct_mapping(loader: _Loader, node: yaml.MappingNode):
    data = _MarkedDict()
    data.line = node.start_mark.line + 1
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in data:
            loader.duplicate_keys.append((key_node.start_mark.line + 1, str(key)))
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode):
    data = _MarkedList()
    data.line = node.start_mark.line + 1
    yield data
    for item_node in node.value:
        data.append(loader.construct_object(item_node, deep=True))
        data.item_lines.append(item_node.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def _plain(value):
    """The parsed data as ordinary dicts and lists."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _line_of(data, path) -> int:
    """The line of the deepest part of `path` found in the marked data."""
    node, line = data, getattr(data, "line", 1)
    for part in path:
        if isinstance(node, _MarkedDict) and part in node:
            line, node = node.key_lines.get(part, line), node[part]
        elif isinstance(node, _MarkedList) and isinstance(part, int) and 0 <= part < len(node):
            line, node = node.item_lines[part], node[part]
        else:
            break
    return line


def _dotted(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _display_name(path: Path) -> str:
    """The path relative to the working directory when it is inside it (`config/catalog.yaml`)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------------- checks


def parse_local_time(text: str, time_zone: str, *, end_of_day: bool = False) -> datetime:
    """A catalog date (`2027-06-15` or `2027-06-15T17:00`) as an aware datetime in `time_zone`.

    A date alone is the start of that day, or its last second when `end_of_day`.
    """
    value = datetime.fromisoformat(text)
    if len(text) == 10 and end_of_day:
        value = value.replace(hour=23, minute=59, second=59)
    return value.replace(tzinfo=ZoneInfo(time_zone))


def _schema_problems(data) -> list[tuple[list, str]]:
    problems = []
    validator = Draft202012Validator(CATALOG_SCHEMA)
    for error in validator.iter_errors(data):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            for key in error.instance:
                if key not in allowed:
                    problems.append(([*path, key], f"unknown key {key!r}"))
            continue
        problems.append((path, error.message))
    return problems


def _semantic_problems(data) -> list[tuple[list, str]]:
    """Rules a JSON schema cannot say: unique keys, levels that exist, dates in order, real time zones."""
    problems: list[tuple[list, str]] = []
    if not isinstance(data, dict):
        return problems
    microcredentials = data.get("microcredentials")
    seen_slugs: dict[str, int] = {}
    for index, mc in enumerate(microcredentials if isinstance(microcredentials, list) else []):
        if not isinstance(mc, dict):
            continue
        here = ["microcredentials", index]
        slug = mc.get("slug")
        if isinstance(slug, str):
            if not re.match(SLUG_PATTERN, slug):
                problems.append(([*here, "slug"], f"{slug!r} is not a valid slug (lowercase letters, digits and "
                                                  "single hyphens, e.g. 'feedback-to-promote-learning')"))
            if slug in seen_slugs:
                first = seen_slugs[slug]
                problems.append(([*here, "slug"], f"duplicate slug {slug!r} (also microcredentials[{first}])"))
            seen_slugs.setdefault(slug, index)
        rubric = mc.get("rubric")
        if isinstance(rubric, dict):
            problems += _rubric_problems(rubric, [*here, "rubric"])
    terms = data.get("terms")
    seen_terms: dict[str, int] = {}
    for index, term in enumerate(terms if isinstance(terms, list) else []):
        if not isinstance(term, dict):
            continue
        here = ["terms", index]
        key = term.get("key")
        if isinstance(key, str):
            if key in seen_terms:
                problems.append(([*here, "key"], f"duplicate term key {key!r} (also terms[{seen_terms[key]}])"))
            seen_terms.setdefault(key, index)
        problems += _term_problems(term, here)
    return problems


def _rubric_problems(rubric: dict, here: list) -> list[tuple[list, str]]:
    problems: list[tuple[list, str]] = []
    levels = rubric.get("levels") if isinstance(rubric.get("levels"), list) else []
    level_keys: list[str] = []
    for index, level in enumerate(levels):
        key = level.get("key") if isinstance(level, dict) else None
        if not isinstance(key, str):
            continue
        if not re.match(KEY_PATTERN, key):
            problems.append(([*here, "levels", index, "key"], f"{key!r} is not a valid key (e.g. 'not_yet')"))
        if key in level_keys:
            problems.append(([*here, "levels", index, "key"], f"duplicate level key {key!r}"))
        level_keys.append(key)
    names = ", ".join(level_keys)
    required = rubric.get("required_level")
    if isinstance(required, str) and required not in level_keys:
        problems.append(([*here, "required_level"], f"{required!r} is not one of the levels ({names})"))
    criteria = rubric.get("criteria") if isinstance(rubric.get("criteria"), list) else []
    criterion_keys: set[str] = set()
    for index, criterion in enumerate(criteria):
        if not isinstance(criterion, dict):
            continue
        at = [*here, "criteria", index]
        key = criterion.get("key")
        if isinstance(key, str):
            if not re.match(KEY_PATTERN, key):
                problems.append(([*at, "key"], f"{key!r} is not a valid key (e.g. 'goal_and_plan')"))
            if key in criterion_keys:
                problems.append(([*at, "key"], f"duplicate criterion key {key!r}"))
            criterion_keys.add(key)
        part = criterion.get("part")
        if isinstance(part, str) and part not in PARTS:
            problems.append(([*at, "part"], f"{part!r} is not one of the parts ({', '.join(PARTS)})"))
        descriptors = criterion.get("descriptors")
        if isinstance(descriptors, dict):
            for level_key in level_keys:
                if level_key not in descriptors:
                    problems.append(([*at, "descriptors"], f"no descriptor for level {level_key!r}"))
            for level_key in descriptors:
                if level_key not in level_keys:
                    problems.append(([*at, "descriptors", level_key],
                                     f"{level_key!r} is not one of the levels ({names})"))
    return problems


def _term_problems(term: dict, here: list) -> list[tuple[list, str]]:
    problems: list[tuple[list, str]] = []
    time_zone = term.get("time_zone")
    if isinstance(time_zone, str):
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(([*here, "time_zone"], f"{time_zone!r} is not an IANA time zone (e.g. 'America/New_York')"))
            time_zone = None
    moments: dict[str, datetime | date] = {}
    for name in TERM_DATES:
        text = term.get(name)
        if not (isinstance(text, str) and re.match(LOCAL_TIME_PATTERN, text)):
            continue
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            problems.append(([*here, name], f"{text!r} is not a real date"))
            continue
        if isinstance(time_zone, str):
            moments[name] = parse_local_time(text, time_zone, end_of_day=name != "enrollment_opens_at")
        else:
            moments[name] = value
    order = [("enrollment_opens_at", "enrollment_closes_at"), ("enrollment_opens_at", "recommended_submission_at"),
             ("recommended_submission_at", "final_deadline_at"), ("enrollment_closes_at", "final_deadline_at")]
    for earlier, later in order:
        if earlier in moments and later in moments and not moments[earlier] < moments[later]:
            if earlier == "recommended_submission_at" and moments[earlier] == moments[later]:
                continue  # a recommended date may be the deadline itself
            problems.append(([*here, later], f"{term[later]!r} must be after {earlier} ({term[earlier]!r})"))
    return problems


# ---------------------------------------------------------------------------------------------- entry points


def assessment_settings(entry: dict) -> dict:
    """An entry's `assessment:` block with every setting present (the defaults fill what it leaves out)."""
    return {**ASSESSMENT_DEFAULTS, **(entry.get("assessment") or {})}


def validate_catalog(data, file_name: str = "<catalog>") -> list[str]:
    """Every problem of already-parsed catalog data, as `file:line: key: problem` (empty when valid)."""
    found = _schema_problems(data) + _semantic_problems(data)
    found.sort(key=lambda item: _line_of(data, item[0]))
    return [f"{file_name}:{_line_of(data, path)}: {_dotted(path)}: {message}" for path, message in found]


def parse_catalog_text(text: str, file_name: str = "<catalog>") -> dict:
    """Parse and validate catalog YAML; raises CatalogError naming the line and key of every problem."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        reason = " ".join(p for p in (error.context, error.problem) if p) or "invalid YAML"
        raise CatalogError([f"{file_name}:{line}: YAML syntax error: {reason}"]) from None
    except yaml.YAMLError as error:
        raise CatalogError([f"{file_name}:1: YAML error: {error}"]) from None
    finally:
        loader.dispose()
    if data is None:
        raise CatalogError([f"{file_name}:1: (top level): the file is empty"])
    problems = [f"{file_name}:{line}: {key}: this key appears twice in the same mapping"
                for line, key in loader.duplicate_keys]
    problems += validate_catalog(data, file_name)
    if problems:
        raise CatalogError(problems)
    return _plain(data)


def load_catalog_file(path: str | os.PathLike) -> dict:
    """Read, parse and validate a catalog file; raises CatalogError with `file:line: key: problem` messages."""
    path = Path(path)
    file_name = _display_name(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CatalogError([f"{file_name}: cannot be read: {error.strerror or error}"]) from None
    except UnicodeDecodeError:
        raise CatalogError([f"{file_name}: is not UTF-8 text"]) from None
    return parse_catalog_text(text, file_name)
