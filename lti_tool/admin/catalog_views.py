"""Admin catalog management: list, create, edit, retire and restore micro-credentials; import and export YAML."""

from __future__ import annotations

import re
from functools import wraps

import yaml
from flask import Blueprint, Response, redirect, render_template, request
from werkzeug.datastructures import MultiDict

from lti_tool.badges import issuers
from lti_tool.catalog.models import PARTS, MicroCredential
from lti_tool.catalog.parts import PART_TITLES
from lti_tool.catalog.schema import ASSESSMENT_DEFAULTS, CatalogError, assessment_settings
from lti_tool.catalog.services import (
    create_microcredential,
    export_catalog,
    get_microcredential,
    import_catalog_text,
    list_microcredentials,
    microcredential_entry,
    restore_microcredential,
    retire_microcredential,
    update_microcredential,
)
from lti_tool.core.addresses import IMAGE_ADDRESS_HINT, is_image_address
from lti_tool.core.errors import NotAllowed, NotFound
from lti_tool.lti import roles
from lti_tool.lti.launch_context import current_launch, launch_url_for, require_duty

bp = Blueprint("admin_catalog", __name__, url_prefix="/admin/catalog")

MAX_IMPORT_BYTES = 2 * 1024 * 1024  # a catalog is text: far below this

# What a finished action says on the list (an allow-list: nothing from the URL is shown as is).
DONE_MESSAGES = {
    "created": "was added to the catalog.",
    "updated": "was saved.",
    "unchanged": "had no changes to save.",
    "retired": "was retired: instructors can no longer choose it; work already started on it is kept.",
    "restored": "was restored: instructors can choose it again.",
}

ASSESSMENT_FIELDS = ("instructors_may_assess", "review_before_release", "double_blind", "reopen_rule", "max_attempts")
ASSESSMENT_SWITCHES = ("instructors_may_assess", "review_before_release", "double_blind")

FORM_FIELDS = (
    "slug", "title", "issuing_organization", "competency", "key_method", "estimated_hours", "inservice_hours",
    "description", "resources", *(f"prompts_{part}" for part in PARTS), "rubric", "badge_image",
    "badge_valid_months", "issuer_profile_id", "earning_rule", *ASSESSMENT_FIELDS,
)

_FIELD_OF_KEY = {f"parts.{part}.prompts": f"prompts_{part}" for part in PARTS} | {
    f"assessment.{name}": name for name in ASSESSMENT_FIELDS}


def require_catalog_manager(view):
    """Admins of a platform trusted with the shared catalog only (`flask platforms catalog-manager`)."""

    @require_duty(roles.ADMIN)
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_launch().deployment.registration.manages_catalog:
            raise NotAllowed(
                "The catalog is shared by every LMS that uses this tool, and your LMS's administrators do not "
                "manage it.",
                hint="The tool's operator can grant this with `flask --app wsgi platforms catalog-manager`.",
            )
        return view(*args, **kwargs)

    return wrapped


def _microcredential_or_404(slug: str) -> MicroCredential:
    microcredential = get_microcredential(slug, include_retired=True)
    if microcredential is None:
        raise NotFound("That micro-credential is not in the catalog.")
    return microcredential


# ---------------------------------------------------------------------------------------------- the form


def _form_values(entry: dict) -> dict:
    """A catalog entry as the form's text fields."""
    values = {
        name: entry.get(name) or ""
        for name in ("slug", "title", "issuing_organization", "competency", "key_method", "description",
                     "badge_image", "earning_rule")
    }
    values["badge_valid_months"] = str(entry.get("badge_valid_months") or "")
    values["estimated_hours"] = str(entry.get("estimated_hours", ""))
    values["inservice_hours"] = str(entry.get("inservice_hours", ""))
    values["resources"] = "\n".join(f"{r['title']} | {r['url']}" for r in entry.get("resources") or [])
    for part in PARTS:
        values[f"prompts_{part}"] = "\n".join(entry.get("parts", {}).get(part, {}).get("prompts", []))
    rubric = entry.get("rubric")
    values["rubric"] = yaml.safe_dump(rubric, sort_keys=False, allow_unicode=True, width=100) if rubric else ""
    settings = assessment_settings(entry)
    values.update({name: "1" if settings[name] else "" for name in ASSESSMENT_SWITCHES})
    values["reopen_rule"] = settings["reopen_rule"]
    values["max_attempts"] = str(settings["max_attempts"])
    return values


_EMPTY_RUBRIC = {
    "levels": [{"key": "not_yet", "label": "Not yet"}, {"key": "developing", "label": "Developing"},
               {"key": "demonstrated", "label": "Demonstrated"}],
    "required_level": "demonstrated",
    "criteria": [{"key": "criterion_1", "title": "", "part": "overview",
                  "descriptors": {"not_yet": "", "developing": "", "demonstrated": ""}}],
}


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _whole_number(form: MultiDict, name: str, problems: list[str]) -> int:
    text = (form.get(name) or "").strip()
    if re.fullmatch(r"\d{1,6}", text):
        return int(text)
    problems.append(f"{name}: {text!r} is not a whole number of hours (e.g. 6)")
    return 0


def _valid_months(form: MultiDict, problems: list[str]) -> int | None:
    """How long a badge is valid, in months; empty: it never expires (the schema checks the range)."""
    text = (form.get("badge_valid_months") or "").strip()
    if not text:
        return None
    if re.fullmatch(r"\d{1,6}", text):
        return int(text)
    problems.append(f"badge_valid_months: {text!r} is not a whole number of months (e.g. 36), or leave it empty")
    return None


def _assessment_from_form(form: MultiDict, problems: list[str]) -> dict:
    """The "How it is assessed" fields as the entry's `assessment:` block (the schema checks the rest)."""
    settings: dict = {name: bool(form.get(name)) for name in ASSESSMENT_SWITCHES}
    settings["reopen_rule"] = form.get("reopen_rule") or ASSESSMENT_DEFAULTS["reopen_rule"]
    text = (form.get("max_attempts") or "").strip()
    if not text:
        settings["max_attempts"] = ASSESSMENT_DEFAULTS["max_attempts"]
    elif re.fullmatch(r"\d{1,3}", text):
        settings["max_attempts"] = int(text)
    else:
        problems.append(f"max_attempts: {text!r} is not a whole number of attempts (e.g. 3)")
    return settings


def _entry_from_form(form: MultiDict, slug: str) -> tuple[dict, list[str], bool]:
    """The form as a catalog entry, the problems of reading it, and whether the rubric could be read."""
    problems: list[str] = []
    resources = []
    for number, line in enumerate((form.get("resources") or "").splitlines(), start=1):
        if not line.strip():
            continue
        title, separator, url = line.rpartition("|")
        if not separator:
            problems.append(f"resources: line {number}: write it as 'title | https://…'")
            continue
        resources.append({"title": title.strip(), "url": url.strip()})
    entry = {
        "slug": slug,
        "title": (form.get("title") or "").strip(),
        "issuing_organization": (form.get("issuing_organization") or "").strip(),
        "competency": (form.get("competency") or "").strip(),
        "key_method": (form.get("key_method") or "").strip(),
        "estimated_hours": _whole_number(form, "estimated_hours", problems),
        "inservice_hours": _whole_number(form, "inservice_hours", problems),
        "description": (form.get("description") or "").strip() or None,
        "resources": resources,
        "badge_image": (form.get("badge_image") or "").strip() or None,
        "badge_valid_months": _valid_months(form, problems),
        "parts": {part: {"prompts": _lines(form.get(f"prompts_{part}"))} for part in PARTS},
        "earning_rule": (form.get("earning_rule") or "").strip(),
        "assessment": _assessment_from_form(form, problems),
    }
    rubric_read = True
    try:
        entry["rubric"] = yaml.safe_load(form.get("rubric") or "")
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" on line {mark.line + 1}" if mark else ""
        problems.append(f"rubric: YAML syntax error{where}: {error.problem or error.context or 'invalid YAML'}")
        rubric_read = False
    except yaml.YAMLError:
        problems.append("rubric: this is not YAML")
        rubric_read = False
    badge = entry["badge_image"]
    if badge and not is_image_address(badge):
        problems.append(f"badge_image: give {IMAGE_ADDRESS_HINT}")
    return entry, problems, rubric_read


def _issuer_from_form(form: MultiDict, problems: list[str]):
    """The issuer profile chosen, by an allow-list of the profiles' ids; None when none was sent (the issuer
    stays as it is)."""
    text = (form.get("issuer_profile_id") or "").strip()
    if not text:
        return None
    profile = issuers.profile_choice(text)
    if profile is None:
        problems.append("issuer_profile_id: choose one of the issuer profiles")
    return profile


def _field_problems(problems: list[str]) -> dict[str, list[str]]:
    """The problems by form field, so each can be shown next to its field."""
    by_field: dict[str, list[str]] = {}
    for problem in problems:
        key = problem.partition(":")[0]
        field = _FIELD_OF_KEY.get(key) or re.split(r"[.\[]", key, maxsplit=1)[0]
        by_field.setdefault(field, []).append(problem)
    return by_field


def _save(microcredential: MicroCredential | None):
    """Create or update from the posted form; on problems, the form again with them and the person's input."""
    form = request.form
    slug = microcredential.slug if microcredential else (form.get("slug") or "").strip()
    entry, problems, rubric_read = _entry_from_form(form, slug)
    issuer = _issuer_from_form(form, problems)
    try:
        if problems:
            raise CatalogError(problems)
        if microcredential is None:
            microcredential = create_microcredential(entry)
            done = "created"
        else:
            done = "updated" if update_microcredential(microcredential, entry) else "unchanged"
        if issuer is not None and issuers.choose_issuer(microcredential, issuer) and done == "unchanged":
            done = "updated"
    except CatalogError as error:
        found = problems + [p for p in error.problems if p not in problems]
        if not rubric_read:  # its absence is already explained by the syntax error
            found = [p for p in found if not p.startswith("(top level): 'rubric'")]
        return _render_form(microcredential, {name: form.get(name, "") for name in FORM_FIELDS}, found), 400
    return redirect(launch_url_for("admin_catalog.index", done=done, slug=microcredential.slug), code=303)


def _render_form(microcredential: MicroCredential | None, values: dict, problems: list[str] | None = None):
    if not values.get("issuer_profile_id"):
        values = {**values, "issuer_profile_id": str(issuers.current_issuer_id(microcredential) or "")}
    return render_template(
        "admin/catalog_form.html",
        launch=current_launch(),
        microcredential=microcredential,
        issuer_profiles=issuers.list_profiles(),
        image_hint=IMAGE_ADDRESS_HINT,
        values=values,
        problems=problems or [],
        field_problems=_field_problems(problems or []),
        part_titles=PART_TITLES,
    )


# ---------------------------------------------------------------------------------------------- views


@bp.get("/")
@require_catalog_manager
def index():
    """Every micro-credential, active and retired, with what an admin can do to it."""
    done_slug = request.args.get("slug")
    done = request.args.get("done")
    done_microcredential = get_microcredential(done_slug, include_retired=True) if done in DONE_MESSAGES else None
    return render_template(
        "admin/catalog.html",
        launch=current_launch(),
        microcredentials=list_microcredentials(include_retired=True),
        done_microcredential=done_microcredential,
        done_message=DONE_MESSAGES.get(done or ""),
    )


@bp.route("/new", methods=["GET", "POST"])
@require_catalog_manager
def create():
    """A new micro-credential, with the catalog file's rules."""
    if request.method == "POST":
        return _save(None)
    values = _form_values({"rubric": _EMPTY_RUBRIC, "estimated_hours": "", "inservice_hours": ""})
    return _render_form(None, values)


@bp.route("/<slug>/edit", methods=["GET", "POST"])
@require_catalog_manager
def edit(slug: str):
    """Change a micro-credential (its slug stays: activities in courses name it)."""
    microcredential = _microcredential_or_404(slug)
    if request.method == "POST":
        return _save(microcredential)
    return _render_form(microcredential, _form_values(microcredential_entry(microcredential)))


@bp.post("/<slug>/retire")
@require_catalog_manager
def retire(slug: str):
    retire_microcredential(_microcredential_or_404(slug))
    return redirect(launch_url_for("admin_catalog.index", done="retired", slug=slug), code=303)


@bp.post("/<slug>/restore")
@require_catalog_manager
def restore(slug: str):
    restore_microcredential(_microcredential_or_404(slug))
    return redirect(launch_url_for("admin_catalog.index", done="restored", slug=slug), code=303)


def _import_text() -> tuple[str, str]:
    """The YAML to import and the name to report problems under: the uploaded file, else the pasted text."""
    upload = request.files.get("catalog_file")
    if upload is not None and upload.filename:
        file_name = upload.filename
        data = upload.stream.read(MAX_IMPORT_BYTES + 1)
        if len(data) > MAX_IMPORT_BYTES:
            raise CatalogError([f"{file_name}: is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB"])
        try:
            return data.decode("utf-8"), file_name
        except UnicodeDecodeError:
            raise CatalogError([f"{file_name}: is not UTF-8 text"]) from None
    return (request.form.get("catalog_text") or "").replace("\r\n", "\n"), "pasted text"


@bp.route("/import", methods=["GET", "POST"])
@require_catalog_manager
def import_yaml():
    """Load catalog YAML with the catalog file's rules: all of it, or nothing and every problem listed."""
    if request.method == "GET":
        return render_template("admin/catalog_import.html", launch=current_launch(), problems=[], text="", report=None)
    text = request.form.get("catalog_text") or ""
    try:
        text, file_name = _import_text()
        report = import_catalog_text(text, file_name)
    except CatalogError as error:
        return render_template("admin/catalog_import.html", launch=current_launch(), problems=error.problems,
                               text=text, report=None), 400
    return render_template("admin/catalog_import.html", launch=current_launch(), problems=[], text="", report=report)


@bp.get("/export")
@require_catalog_manager
def export_yaml():
    """The active catalog as YAML that the import (and `flask catalog load --file`) accepts."""
    return Response(
        export_catalog(),
        mimetype="application/yaml",
        headers={"Content-Disposition": 'attachment; filename="catalog.yaml"'},
    )
