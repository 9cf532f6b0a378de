"""Catalog services: load the catalog file (idempotent), list, pick, export, and admins' edits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import yaml
from flask import current_app

from lti_tool.catalog.models import PARTS, IssuerProfile, MicroCredential, RubricCriterion, RubricLevel, Term
from lti_tool.catalog.schema import (
    ASSESSMENT_DEFAULTS,
    TERM_DATES,
    CatalogError,
    _dotted,
    _schema_problems,
    _semantic_problems,
    assessment_settings,
    load_catalog_file,
    parse_catalog_text,
    parse_local_time,
)
from lti_tool.core.models import utcnow
from lti_tool.extensions import db

__all__ = [
    "LoadReport",
    "create_microcredential",
    "current_term",
    "export_catalog",
    "get_issuer_profile",
    "get_microcredential",
    "import_catalog_text",
    "list_microcredentials",
    "list_terms",
    "load_catalog",
    "load_catalog_data",
    "microcredential_entry",
    "microcredential_problems",
    "restore_microcredential",
    "retire_microcredential",
    "update_microcredential",
]


@dataclass
class LoadReport:
    """What a catalog load did, by slug (micro-credentials) and key (terms)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    terms_created: list[str] = field(default_factory=list)
    terms_updated: list[str] = field(default_factory=list)
    terms_unchanged: list[str] = field(default_factory=list)
    issuer_changed: bool = False

    @property
    def microcredential_count(self) -> int:
        """Micro-credentials in the file (all now active)."""
        return len(self.created) + len(self.updated) + len(self.unchanged)

    @property
    def term_count(self) -> int:
        return len(self.terms_created) + len(self.terms_updated) + len(self.terms_unchanged)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.retired or self.terms_created or self.terms_updated
                    or self.issuer_changed)


# ---------------------------------------------------------------------------------------------- reading


def get_microcredential(slug: str | None, *, include_retired: bool = False) -> MicroCredential | None:
    """The micro-credential with this slug; None when unknown or (unless asked for) retired."""
    if not slug:
        return None
    query = db.select(MicroCredential).where(MicroCredential.slug == slug)
    if not include_retired:
        query = query.where(MicroCredential.is_retired.is_(False))
    return db.session.scalar(query)


def list_microcredentials(include_retired: bool = False) -> list[MicroCredential]:
    """The catalog in the file's order (then by title): what an instructor may pick."""
    query = db.select(MicroCredential).order_by(MicroCredential.position, MicroCredential.title)
    if not include_retired:
        query = query.where(MicroCredential.is_retired.is_(False))
    return list(db.session.scalars(query))


def list_terms() -> list[Term]:
    """Every term, earliest first."""
    return list(db.session.scalars(db.select(Term).order_by(Term.enrollment_opens_at, Term.key)))


def current_term(now: datetime | None = None) -> Term | None:
    """The term running now (enrollment open up to its final deadline), else the next, else the latest."""
    now = now or utcnow()
    running = db.session.scalar(
        db.select(Term)
        .where(Term.enrollment_opens_at <= now, Term.final_deadline_at >= now)
        .order_by(Term.enrollment_opens_at.desc())
        .limit(1)
    )
    if running is not None:
        return running
    upcoming = db.session.scalar(
        db.select(Term).where(Term.enrollment_opens_at > now).order_by(Term.enrollment_opens_at).limit(1)
    )
    if upcoming is not None:
        return upcoming
    return db.session.scalar(db.select(Term).order_by(Term.final_deadline_at.desc()).limit(1))


def get_issuer_profile() -> IssuerProfile | None:
    """The organization that issues the catalog's badges."""
    return db.session.scalar(db.select(IssuerProfile).order_by(IssuerProfile.id).limit(1))


# ---------------------------------------------------------------------------------------------- loading


def _assign(row, **values) -> bool:
    """Set only the attributes that differ, so that an unchanged row is not updated; True when any changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _sync_children(microcredential: MicroCredential, relation: str, entries: list[dict], make, values_of) -> bool:
    """Bring an ordered child collection (levels, criteria) in line with the file, matching rows by key.

    Rows no longer in the file are deleted (delete-orphan); True when anything changed.
    """
    current = getattr(microcredential, relation)
    existing = {row.key: row for row in current}
    ordered, changed = [], False
    for position, entry in enumerate(entries):
        row = existing.get(entry["key"])
        if row is None:
            row, changed = make(key=entry["key"]), True
        changed |= _assign(row, position=position, **values_of(entry))
        ordered.append(row)
    if [row.key for row in current] != [row.key for row in ordered]:
        setattr(microcredential, relation, ordered)
        changed = True
    return changed


def _sync_levels(microcredential: MicroCredential, entries: list[dict]) -> bool:
    return _sync_children(microcredential, "levels", entries, RubricLevel, lambda e: {"label": e["label"]})


def _sync_criteria(microcredential: MicroCredential, entries: list[dict]) -> bool:
    return _sync_children(
        microcredential, "criteria", entries, RubricCriterion,
        lambda e: {"title": e["title"], "part": e["part"], "descriptors": dict(e["descriptors"])},
    )


def _apply_entry(microcredential: MicroCredential, entry: dict) -> bool:
    """Copy a validated catalog entry onto a micro-credential and its rubric; True when anything changed."""
    rubric = entry["rubric"]
    changed = _assign(
        microcredential,
        title=entry["title"],
        issuing_organization=entry["issuing_organization"],
        competency=entry["competency"],
        key_method=entry["key_method"],
        estimated_hours=entry["estimated_hours"],
        inservice_hours=entry["inservice_hours"],
        description=entry.get("description"),
        resources=[{"title": r["title"], "url": r["url"]} for r in entry.get("resources") or []],
        prompts={part: list(entry["parts"][part]["prompts"]) for part in PARTS},
        badge_image=entry.get("badge_image"),
        badge_valid_months=entry.get("badge_valid_months"),
        earning_rule=entry["earning_rule"],
        required_level_key=rubric["required_level"],
        **assessment_settings(entry),  # the `assessment:` block, its defaults filling what it leaves out
    )
    changed |= _sync_levels(microcredential, rubric["levels"])
    changed |= _sync_criteria(microcredential, rubric["criteria"])
    return changed


def issuer_profile_for(organization: str, default: IssuerProfile | None) -> IssuerProfile | None:
    """The issuer profile named like an issuing organization, else the catalog's own issuer."""
    named = db.session.scalar(
        db.select(IssuerProfile).where(IssuerProfile.name == organization).order_by(IssuerProfile.id).limit(1)
    )
    return named or default


def _load_microcredentials(entries: list[dict], report: LoadReport, issuer: IssuerProfile | None = None) -> None:
    existing = {mc.slug: mc for mc in db.session.scalars(db.select(MicroCredential))}
    for position, entry in enumerate(entries):
        microcredential = existing.get(entry["slug"])
        created = microcredential is None
        if created:
            microcredential = MicroCredential(slug=entry["slug"])
            db.session.add(microcredential)
        changed = _apply_entry(microcredential, entry)
        changed |= _assign(microcredential, is_retired=False, position=position)
        if microcredential.issuer_profile_id is None:  # an admin's later choice of issuer is kept
            profile = issuer_profile_for(entry["issuing_organization"], issuer)
            changed |= _assign(microcredential, issuer_profile=profile)
        if created:
            report.created.append(entry["slug"])
        elif changed:
            report.updated.append(entry["slug"])
        else:
            report.unchanged.append(entry["slug"])
    in_file = {entry["slug"] for entry in entries}
    for slug, microcredential in sorted(existing.items()):
        # Never deleted: activities, submissions and badges keep pointing at it.
        if slug not in in_file and not microcredential.is_retired:
            microcredential.is_retired = True
            report.retired.append(slug)


def _load_terms(entries: list[dict], report: LoadReport) -> None:
    existing = {term.key: term for term in db.session.scalars(db.select(Term))}
    for position, entry in enumerate(entries):
        term = existing.get(entry["key"])
        created = term is None
        if created:
            term = Term(key=entry["key"])
            db.session.add(term)
        moments = {
            name: parse_local_time(entry[name], entry["time_zone"], end_of_day=name != "enrollment_opens_at")
            .astimezone(UTC)
            for name in TERM_DATES
        }
        changed = _assign(
            term, title=entry["title"], time_zone=entry["time_zone"], earner_limit=entry.get("earner_limit"),
            position=position, **moments,
        )
        if created:
            report.terms_created.append(entry["key"])
        elif changed:
            report.terms_updated.append(entry["key"])
        else:
            report.terms_unchanged.append(entry["key"])


def load_catalog_data(data: dict) -> LoadReport:
    """Upsert already-validated catalog data: by slug and term key; absent micro-credentials are retired.

    Idempotent: loading the same data twice changes nothing. Flushes, never commits.
    """
    report = LoadReport()
    issuer = get_issuer_profile()
    if issuer is None:
        issuer = IssuerProfile(name=data["issuer"]["name"])
        db.session.add(issuer)
        report.issuer_changed = True
    report.issuer_changed |= _assign(
        issuer,
        name=data["issuer"]["name"],
        url=data["issuer"].get("url"),
        email=data["issuer"].get("email"),
        description=data["issuer"].get("description"),
    )
    _load_microcredentials(data["microcredentials"], report, issuer)
    _load_terms(data.get("terms") or [], report)
    db.session.flush()
    return report


def load_catalog(path: str | os.PathLike | None = None) -> LoadReport:
    """Load the catalog file (default: the CATALOG_FILE setting) into the database; raises CatalogError.

    Flushes, never commits: the caller (the `catalog load` command, an admin request) commits once.
    """
    data = load_catalog_file(path or current_app.config["CATALOG_FILE"])
    report = load_catalog_data(data)
    current_app.logger.info(
        "catalog loaded: %d micro-credentials (%d new, %d updated, %d retired), %d terms",
        report.microcredential_count, len(report.created), len(report.updated), len(report.retired),
        report.term_count,
    )
    return report


# ---------------------------------------------------------------------------------------------- exporting


def _local_text(moment: datetime, time_zone: str, *, end_of_day: bool) -> str:
    """The inverse of `parse_local_time`: a date alone when the time is the day's start (or end)."""
    local = moment.astimezone(ZoneInfo(time_zone))
    if (local.hour, local.minute, local.second) == ((23, 59, 59) if end_of_day else (0, 0, 0)):
        return local.date().isoformat()
    return local.strftime("%Y-%m-%dT%H:%M:%S")


def _export_microcredential(mc: MicroCredential) -> dict:
    return {
        "slug": mc.slug,
        "title": mc.title,
        "issuing_organization": mc.issuing_organization,
        "competency": mc.competency,
        "key_method": mc.key_method,
        "estimated_hours": mc.estimated_hours,
        "inservice_hours": mc.inservice_hours,
        "description": mc.description,
        "resources": [dict(resource) for resource in mc.resources or []],
        "badge_image": mc.badge_image,
        "badge_valid_months": mc.badge_valid_months,
        "parts": {part: {"prompts": mc.prompts_for(part)} for part in PARTS},
        "rubric": {
            "levels": [{"key": level.key, "label": level.label} for level in mc.levels],
            "required_level": mc.required_level_key,
            "criteria": [
                {"key": c.key, "title": c.title, "part": c.part, "descriptors": dict(c.descriptors or {})}
                for c in mc.criteria
            ],
        },
        "earning_rule": mc.earning_rule,
        "assessment": {name: getattr(mc, name) for name in ASSESSMENT_DEFAULTS},
    }


def _export_term(term: Term) -> dict:
    entry = {"key": term.key, "title": term.title}
    for name in TERM_DATES:
        entry[name] = _local_text(getattr(term, name), term.time_zone, end_of_day=name != "enrollment_opens_at")
    entry["time_zone"] = term.time_zone
    entry["earner_limit"] = term.earner_limit
    return entry


def export_catalog() -> str:
    """The active catalog as YAML that `load_catalog` accepts (retired micro-credentials are left out)."""
    issuer = get_issuer_profile()
    data = {
        "version": 1,
        "issuer": {
            "name": issuer.name if issuer else "",
            "url": issuer.url if issuer else None,
            "email": issuer.email if issuer else None,
            "description": issuer.description if issuer else None,
        },
        "microcredentials": [_export_microcredential(mc) for mc in list_microcredentials()],
        "terms": [_export_term(term) for term in db.session.scalars(db.select(Term).order_by(Term.position))],
    }
    text = "# Exported by `flask catalog export`; load it with `flask catalog load --file`.\n"
    text += yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)
    parse_catalog_text(text, "<export>")  # what we export must load: fail here, not on the next load
    return text


# ---------------------------------------------------------------------------------------------- managing


def microcredential_entry(mc: MicroCredential) -> dict:
    """A micro-credential as an entry of the catalog file (what the admin form starts from)."""
    return _export_microcredential(mc)


def microcredential_problems(entry: dict, *, existing: MicroCredential | None = None) -> list[str]:
    """Every problem of one catalog entry, as `key: problem` — the catalog file's rules, plus a free slug."""
    document = {"version": 1, "issuer": {"name": "issuer"}, "microcredentials": [entry]}
    here = ["microcredentials", 0]
    problems = []
    for path, message in _schema_problems(document) + _semantic_problems(document):
        problems.append(f"{_dotted(path[2:] if path[:2] == here else path)}: {message}")
    slug = entry.get("slug")
    if existing is None and isinstance(slug, str) and get_microcredential(slug, include_retired=True) is not None:
        problems.append(f"slug: {slug!r} is already used by another micro-credential")
    return problems


def create_microcredential(data: dict) -> MicroCredential:
    """Add a micro-credential from a catalog entry, last in the catalog; raises CatalogError. Flushes."""
    problems = microcredential_problems(data)
    if problems:
        raise CatalogError(problems)
    last = db.session.scalar(db.select(db.func.max(MicroCredential.position)))
    microcredential = MicroCredential(slug=data["slug"], position=(last if last is not None else -1) + 1)
    _apply_entry(microcredential, data)
    db.session.add(microcredential)
    db.session.flush()
    current_app.logger.info("catalog: micro-credential %s created", microcredential.slug)
    return microcredential


def update_microcredential(mc: MicroCredential, data: dict) -> bool:
    """Change a micro-credential from a catalog entry (its slug never changes); raises CatalogError. Flushes.

    True when anything changed.
    """
    data = {**data, "slug": mc.slug}
    problems = microcredential_problems(data, existing=mc)
    if problems:
        raise CatalogError(problems)
    changed = _apply_entry(mc, data)
    db.session.flush()
    if changed:
        current_app.logger.info("catalog: micro-credential %s updated", mc.slug)
    return changed


def retire_microcredential(mc: MicroCredential) -> None:
    """No longer offered to instructors; activities, submissions and badges that use it keep working. Flushes."""
    if not mc.is_retired:
        mc.is_retired = True
        db.session.flush()
        current_app.logger.info("catalog: micro-credential %s retired", mc.slug)


def restore_microcredential(mc: MicroCredential) -> None:
    """Offer a retired micro-credential again. Flushes."""
    if mc.is_retired:
        mc.is_retired = False
        db.session.flush()
        current_app.logger.info("catalog: micro-credential %s restored", mc.slug)


def import_catalog_text(text: str, file_name: str = "<import>") -> LoadReport:
    """Load catalog YAML with the catalog file's rules; raises CatalogError before changing anything. Flushes.

    As with the file, micro-credentials absent from the text are retired.
    """
    report = load_catalog_data(parse_catalog_text(text, file_name))
    current_app.logger.info(
        "catalog imported from %s: %d micro-credentials (%d new, %d updated, %d retired), %d terms",
        file_name, report.microcredential_count, len(report.created), len(report.updated), len(report.retired),
        report.term_count,
    )
    return report

