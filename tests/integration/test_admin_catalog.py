"""Admins manage the catalog in the tool: create, edit, retire, restore; import and export YAML."""

from __future__ import annotations

from html import unescape

import pytest
import yaml

from tests.nothing_changed import nothing_changes

SLUG = "self-assessment-growth"

RUBRIC = """\
levels:
  - {key: not_yet, label: Not yet}
  - {key: demonstrated, label: Demonstrated}
required_level: demonstrated
criteria:
  - key: plan
    title: A clear plan
    part: overview
    descriptors: {not_yet: No plan., demonstrated: A plan with steps.}
  - key: evidence
    title: Evidence of practice
    part: artifacts
    descriptors: {not_yet: No evidence., demonstrated: Two artifacts or more.}
"""


def _form(**changes) -> dict:
    form = {
        "slug": "questioning-strategies",
        "title": "Questioning Strategies",
        "issuing_organization": "Division of Elementary and Secondary Education",
        "competency": "The educator asks questions that make students think.",
        "key_method": "Plan higher-order questions and wait time.",
        "estimated_hours": "4",
        "inservice_hours": "3",
        "description": "Questions that deepen learning.",
        "resources": "Wait time research | https://example.org/wait-time\nBloom | https://example.org/bloom",
        "prompts_overview": "Which questions will you ask?\nWhy do they matter?",
        "prompts_artifacts": "Upload a lesson plan.",
        "prompts_reflection": "What changed?",
        "badge_image": "",
        "rubric": RUBRIC,
        "earning_rule": "Earned when every criterion is Demonstrated.",
    }
    form.update(changes)
    return form



@pytest.fixture
def admin(browser):
    launch = browser.launch(person="admin")
    assert launch.ltik
    return launch.ltik


def _admin_url(live_tool, path=""):
    return f"{live_tool.url}/admin/catalog{path}"


def _rows(app):
    """The catalog as the database holds it: slug → (title, retired)."""
    from lti_tool.catalog.models import MicroCredential
    from lti_tool.extensions import db

    with app.app_context():
        return {mc.slug: (mc.title, mc.is_retired) for mc in db.session.scalars(db.select(MicroCredential))}


def _export(browser, live_tool, ltik) -> str:
    response = browser.get(_admin_url(live_tool, "/export"), params={"ltik": ltik})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="catalog.yaml"'
    return response.text


# ---------------------------------------------------------------------------------------------- access


@pytest.mark.parametrize("person", ["learner", "instructor"])
@pytest.mark.parametrize("path", ["/", "/new", f"/{SLUG}/edit", "/import", "/export"])
def test_only_an_admin_reaches_the_catalog_pages(browser, live_tool, catalog, person, path):
    launch = browser.launch(person=person)
    response = browser.get(_admin_url(live_tool, path), params={"ltik": launch.ltik})
    assert response.status_code == 403


@pytest.mark.parametrize("path", ["/new", f"/{SLUG}/edit", f"/{SLUG}/retire", "/import"])
def test_a_learner_cannot_change_the_catalog(app, browser, live_tool, catalog, path):
    before = _rows(app)
    launch = browser.launch(person="learner")
    data = {"ltik": launch.ltik, **_form(title="Hijacked"), "catalog_text": "version: 1"}
    with nothing_changes(app):
        assert browser.post(_admin_url(live_tool, path), data=data).status_code == 403
    assert _rows(app) == before


def test_a_post_without_the_launch_reference_in_its_body_is_refused(app, browser, live_tool, catalog, admin):
    with nothing_changes(app):
        response = browser.post(_admin_url(live_tool, f"/{SLUG}/retire"), params={"ltik": admin})
    assert response.status_code == 403
    assert _rows(app)[SLUG][1] is False


def test_the_admin_page_links_to_the_catalog(browser, live_tool, catalog, admin):
    page = browser.get(f"{live_tool.url}/admin/", params={"ltik": admin})
    assert "Manage the catalog" in page.text
    listing = browser.get(_admin_url(live_tool, "/"), params={"ltik": admin})
    assert listing.status_code == 200
    assert "Educator Self-Assessment and Professional Growth" in listing.text
    assert "Providing Feedback to Promote Learning" in listing.text
    assert listing.text.count(">active<") == 2


# ---------------------------------------------------------------------------------------------- round trip


def test_create_edit_retire_and_restore(app, browser, live_tool, catalog, admin):
    created = browser.post(_admin_url(live_tool, "/new"), data={"ltik": admin, **_form()})
    assert created.status_code == 200, created.text[:500]
    assert "“Questioning Strategies” was added to the catalog." in unescape(created.text)
    assert _rows(app)["questioning-strategies"] == ("Questioning Strategies", False)

    page = browser.get(f"{live_tool.url}/catalog/questioning-strategies", params={"ltik": admin})
    text = unescape(page.text)
    for fact in ("Questioning Strategies", "4 hours", "3 hours", "Which questions will you ask?", "Why do they matter?",
                 "A clear plan", "Two artifacts or more.", "Earned when every criterion is Demonstrated."):
        assert fact in text
    assert '<a href="https://example.org/wait-time" target="_blank" rel="noopener noreferrer">' in text
    library = browser.get(f"{live_tool.url}/catalog/", params={"ltik": admin})
    assert "Questioning Strategies" in library.text

    form_page = browser.get(_admin_url(live_tool, "/questioning-strategies/edit"), params={"ltik": admin})
    assert form_page.status_code == 200
    assert "Wait time research | https://example.org/wait-time" in form_page.text
    edited = browser.post(_admin_url(live_tool, "/questioning-strategies/edit"),
                          data={"ltik": admin, **_form(title="Questioning for Thinking", slug="ignored-slug")})
    assert "was saved" in edited.text
    assert _rows(app)["questioning-strategies"] == ("Questioning for Thinking", False)
    assert "ignored-slug" not in _rows(app)

    retired = browser.post(_admin_url(live_tool, "/questioning-strategies/retire"), data={"ltik": admin})
    assert "was retired" in retired.text
    assert _rows(app)["questioning-strategies"] == ("Questioning for Thinking", True)
    library = browser.get(f"{live_tool.url}/catalog/", params={"ltik": admin})
    assert "Questioning for Thinking" not in library.text
    picker = browser.launch(person="instructor", message_type="LtiDeepLinkingRequest")
    assert "questioning-strategies" not in picker.text

    restored = browser.post(_admin_url(live_tool, "/questioning-strategies/restore"), data={"ltik": admin})
    assert "was restored" in restored.text
    assert _rows(app)["questioning-strategies"] == ("Questioning for Thinking", False)
    library = browser.get(f"{live_tool.url}/catalog/", params={"ltik": admin})
    assert "Questioning for Thinking" in library.text


def _edit_form(entry: dict, admin: str, **changes) -> dict:
    """The edit form as the page fills it from a catalog entry, with `changes`."""
    return {
        "ltik": admin, "title": entry["title"], "issuing_organization": entry["issuing_organization"],
        "competency": entry["competency"], "key_method": entry["key_method"],
        "estimated_hours": "6", "inservice_hours": "6", "description": entry["description"],
        "resources": "\n".join(f"{r['title']} | {r['url']}" for r in entry["resources"]),
        **{f"prompts_{part}": "\n".join(entry["parts"][part]["prompts"]) for part in entry["parts"]},
        "rubric": yaml.safe_dump(entry["rubric"], sort_keys=False), "earning_rule": entry["earning_rule"],
        **changes,
    }


def test_editing_a_sample_keeps_its_rubric_when_only_the_text_changes(app, browser, live_tool, catalog, admin):
    form_page = browser.get(_admin_url(live_tool, f"/{SLUG}/edit"), params={"ltik": admin})
    from lti_tool.catalog.services import get_microcredential, microcredential_entry

    with app.app_context():
        entry = microcredential_entry(get_microcredential(SLUG))
    assert "accurate_self_assessment" in form_page.text
    form = _edit_form(entry, admin, key_method="A changed key method.")
    saved = browser.post(_admin_url(live_tool, f"/{SLUG}/edit"), data=form)
    assert "was saved" in saved.text
    with app.app_context():
        after = microcredential_entry(get_microcredential(SLUG))
    assert after["key_method"] == "A changed key method."
    assert after["rubric"] == entry["rubric"] and after["parts"] == entry["parts"]
    assert after["resources"] == entry["resources"]


@pytest.mark.parametrize("chosen", ["²", "٣", str(2**63), "-1", "1 OR 1=1"])
def test_an_issuer_profile_chosen_by_a_malformed_id_is_asked_again_and_nothing_changes(app, browser, live_tool,
                                                                                       catalog, admin, chosen):
    from lti_tool.catalog.services import get_microcredential, microcredential_entry

    with app.app_context():
        entry = microcredential_entry(get_microcredential(SLUG))
    form = _edit_form(entry, admin, key_method="A changed key method.", issuer_profile_id=chosen)
    with nothing_changes(app):
        answer = browser.post(_admin_url(live_tool, f"/{SLUG}/edit"), data=form)
    assert answer.status_code in (200, 400), answer.text[:300]  # the form again, never a 500
    assert "choose one of the issuer profiles" in answer.text


@pytest.mark.parametrize(("changes", "expected"), [
    ({"title": ""}, "title: '' should be non-empty"),
    ({"slug": "Not A Slug"}, "slug: 'Not A Slug' is not a valid slug"),
    ({"slug": SLUG}, f"slug: '{SLUG}' is already used by another micro-credential"),
    ({"estimated_hours": "six"}, "estimated_hours: 'six' is not a whole number of hours"),
    ({"resources": "no separator here"}, "resources: line 1: write it as 'title | https://…'"),
    ({"resources": "Bad | javascript:alert(1)"}, "resources[0].url: 'javascript:alert(1)' does not match"),
    ({"prompts_reflection": "  "}, "parts.reflection.prompts: [] should be non-empty"),
    ({"rubric": RUBRIC.replace("required_level: demonstrated", "required_level: expert")},
     "rubric.required_level: 'expert' is not one of the levels (not_yet, demonstrated)"),
    ({"rubric": RUBRIC.replace("part: artifacts", "part: appendix")},
     "rubric.criteria[1].part: 'appendix' is not one of the parts"),
    ({"rubric": "levels: [unclosed"}, "rubric: YAML syntax error"),
    ({"badge_image": "javascript:alert(1)"}, "badge_image: give an http(s) address"),
])
def test_an_invalid_form_lists_its_problems_keeps_the_input_and_saves_nothing(
    app, browser, live_tool, catalog, admin, changes, expected
):
    before = _rows(app)
    with nothing_changes(app):
        response = browser.post(_admin_url(live_tool, "/new"), data={"ltik": admin, **_form(**changes)})
    assert response.status_code == 400
    text = unescape(response.text)
    assert "Nothing was saved." in text
    assert expected in text
    assert "Which questions will you ask?\nWhy do they matter?" in text  # the person's input is given back
    assert _rows(app) == before
    if changes.get("rubric") == "levels: [unclosed":
        assert "'rubric' is a required property" not in text


def test_an_invalid_edit_changes_nothing(app, browser, live_tool, catalog, admin):
    before = _rows(app)
    with nothing_changes(app):
        response = browser.post(_admin_url(live_tool, f"/{SLUG}/edit"),
                                data={"ltik": admin, **_form(title="New title", earning_rule="")})
    assert response.status_code == 400
    assert "earning_rule: &#39;&#39; should be non-empty" in response.text
    assert 'value="New title"' in response.text
    assert _rows(app) == before


# ---------------------------------------------------------------------------------------------- import, export


def test_an_invalid_import_lists_every_problem_and_changes_nothing(app, browser, live_tool, catalog, admin):
    before_rows, before_yaml = _rows(app), _export(browser, live_tool, admin)
    text = before_yaml.replace("title: Providing Feedback to Promote Learning", "title: Renamed") \
        .replace("estimated_hours: 6", "estimated_hours: -1", 1) \
        .replace("time_zone: America/New_York", "time_zone: Mars/Olympus")
    with nothing_changes(app):
        response = browser.post(_admin_url(live_tool, "/import"), data={"ltik": admin, "catalog_text": text})
    assert response.status_code == 400
    page = unescape(response.text)
    assert "Nothing was imported." in page
    assert "microcredentials[0].estimated_hours: -1 is less than the minimum of 0" in page
    assert "terms[0].time_zone: 'Mars/Olympus' is not an IANA time zone" in page
    assert "pasted text:" in page  # problems name the line, as for the file
    assert "Mars/Olympus" in page and "Renamed" in page  # the text is given back to fix
    assert _rows(app) == before_rows
    assert _export(browser, live_tool, admin) == before_yaml


def test_an_import_that_is_not_yaml_is_refused(app, browser, live_tool, catalog, admin):
    before = _rows(app)
    with nothing_changes(app):
        response = browser.post(_admin_url(live_tool, "/import"),
                                data={"ltik": admin},
                                files={"catalog_file": ("catalog.yaml", b"version: [1\n", "application/yaml")})
    assert response.status_code == 400
    assert "catalog.yaml:" in response.text and "YAML syntax error" in response.text
    with nothing_changes(app):
        binary = browser.post(_admin_url(live_tool, "/import"), data={"ltik": admin},
                              files={"catalog_file": ("catalog.yaml", b"\xff\xfe\x00bad", "application/yaml")})
    assert binary.status_code == 400 and "is not UTF-8 text" in binary.text
    assert _rows(app) == before


def test_export_then_import_is_a_round_trip(app, browser, live_tool, catalog, admin):
    exported = _export(browser, live_tool, admin)
    assert "self-assessment-growth" in exported and "feedback-to-promote-learning" in exported

    unchanged = browser.post(_admin_url(live_tool, "/import"),
                             files={"catalog_file": ("catalog.yaml", exported.encode(), "application/yaml")},
                             data={"ltik": admin})
    assert unchanged.status_code == 200
    assert "unchanged: self-assessment-growth, feedback-to-promote-learning" in unchanged.text
    assert _export(browser, live_tool, admin) == exported

    renamed = exported.replace("title: Providing Feedback to Promote Learning", "title: Feedback That Moves Learning")
    updated = browser.post(_admin_url(live_tool, "/import"), data={"ltik": admin, "catalog_text": renamed})
    assert updated.status_code == 200
    assert "updated: feedback-to-promote-learning" in updated.text
    assert _rows(app)["feedback-to-promote-learning"] == ("Feedback That Moves Learning", False)
    assert _export(browser, live_tool, admin) == renamed


def test_an_import_retires_what_it_leaves_out(app, browser, live_tool, catalog, admin):
    data = yaml.safe_load(_export(browser, live_tool, admin))
    data["microcredentials"] = data["microcredentials"][:1]
    text = yaml.safe_dump(data, sort_keys=False)
    response = browser.post(_admin_url(live_tool, "/import"), data={"ltik": admin, "catalog_text": text})
    assert response.status_code == 200
    assert "retired: feedback-to-promote-learning" in response.text
    assert _rows(app)["feedback-to-promote-learning"][1] is True


# ---------------------------------------------------------------------------------------------- escaping


def test_script_in_admin_fields_is_escaped_on_the_public_pages(app, browser, live_tool, catalog, admin):
    script = "<script>alert(1)</script>"
    rubric = RUBRIC.replace("title: A clear plan", f"title: '{script}'").replace("No plan.", f"'{script}'")
    rubric = rubric.replace("label: Not yet", f"label: '{script}'")
    form = _form(title=f"Title {script}", issuing_organization=f"Org {script}", competency=script, key_method=script,
                 description=script, resources=f"{script} | https://example.org/x?a=\"><script>",
                 prompts_overview=script, prompts_artifacts=script, prompts_reflection=script,
                 rubric=rubric, earning_rule=script)
    created = browser.post(_admin_url(live_tool, "/new"), data={"ltik": admin, **form})
    assert created.status_code == 200, unescape(created.text)[-2000:]
    learner = browser.launch(person="learner")
    for path in ("/catalog/", "/catalog/questioning-strategies"):
        page = browser.get(live_tool.url + path, params={"ltik": learner.ltik})
        assert page.status_code == 200
        assert "<script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    admin_list = browser.get(_admin_url(live_tool, "/"), params={"ltik": admin})
    assert "<script>" not in admin_list.text
    edit = browser.get(_admin_url(live_tool, "/questioning-strategies/edit"), params={"ltik": admin})
    assert "<script>" not in edit.text


def test_admins_of_a_platform_not_trusted_with_the_catalog_cannot_change_it(app, browser, platform, live_tool,
                                                                             catalog):
    from lti_tool.extensions import db
    from lti_tool.lti.models import Registration

    with app.app_context():
        db.session.scalar(db.select(Registration)).manages_catalog = False
        db.session.commit()
    admin = browser.launch(person="admin")
    page = browser.get(live_tool.url + "/admin/catalog/", params={"ltik": admin.ltik})
    assert page.status_code == 403
    assert "shared by every LMS" in page.text
    with nothing_changes(app):
        retire = browser.post(live_tool.url + "/admin/catalog/self-assessment-growth/retire",
                              data={"ltik": admin.ltik})
    assert retire.status_code == 403
    home = browser.get(live_tool.url + "/admin/", params={"ltik": admin.ltik})
    assert "Manage the catalog" not in home.text
