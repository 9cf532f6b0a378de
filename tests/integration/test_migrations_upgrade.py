"""An upgrade from the previous release keeps every row (DESIGN.md: "an upgrade never loses data").

A database is built at the landed release's revision, filled with plain SQL against the tables as they were
then (reflected, never the current models), and upgraded to head — whatever head is by now. Every row must
still be there with the same values, the current models must read them, and the upgraded schema must be the
one the models describe.

SQLite runs in a temporary file. When DATABASE_URL names PostgreSQL, the test runs in a schema of its own
(through `search_path`), dropped afterwards, so it never touches the suite's tables.

A later migration that moves data on purpose (a renamed table or column) adds its mapping to `MOVED_COLUMNS`;
one that drops a table on purpose names it in `DROPPED_TABLES`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from lti_tool import create_app
from lti_tool.extensions import db
from tests import conftest

RELEASE = "e4b6e7fee8bf"  # the landed release: migrations/versions/e4b6e7fee8bf_initial_schema.py

# (table, column) at the release -> (table, column) at head, for data a later migration moved on purpose.
MOVED_COLUMNS: dict[tuple[str, str], tuple[str, str]] = {}
# Tables a later migration dropped on purpose, and why.
DROPPED_TABLES = {
    "lti_used_nonce": "536db0ba815f: launch nonces are consumed once in the cache; a used nonce outlives its token "
                      "by minutes only",
}

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def _at(days: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


def _stamps(days: float = 0) -> dict:
    return {"created_at": _at(days), "updated_at": _at(days, hours=1)}


RUBRIC_DESCRIPTORS = {"notyet": "The goal is missing.", "developing": "A goal without a plan.",
                      "demonstrated": "A measurable goal with a plan."}
SCORE_PAYLOAD = {"userId": "user-learner-1", "activityProgress": "Submitted", "gradingProgress": "PendingManual",
                 "timestamp": "2026-09-03T09:00:00.000+00:00"}

# The previous release's data, table by table, in an order the foreign keys accept.
ROWS: dict[str, list[dict]] = {
    "catalog_issuer_profile": [
        {"id": 1, "name": "Division of Elementary and Secondary Education", "url": "https://dese.example",
         "email": "badges@dese.example", "description": "Issues educator micro-credentials.", **_stamps()},
    ],
    "catalog_microcredential": [
        {"id": 1, "slug": "self-assessment-growth", "title": "Educator Self-Assessment and Professional Growth",
         "issuing_organization": "Division of Elementary and Secondary Education",
         "competency": "The educator self-assesses and sets a growth goal.", "key_method": "Self-assessment",
         "estimated_hours": 6, "inservice_hours": 6, "description": "Reflect on practice; plan growth.",
         "resources": [{"title": "Guide", "url": "https://dese.example/guide.pdf"}],
         "prompts": {"overview": ["How will this benefit your students?"], "reflection": ["What changed?"]},
         "badge_image": "badges/self-assessment.png", "earning_rule": "Every criterion at Demonstrated.",
         "required_level_key": "demonstrated", "is_retired": False, "position": 1, **_stamps()},
        {"id": 2, "slug": "feedback-for-learning", "title": "Providing Feedback to Promote Learning",
         "issuing_organization": "Division of Elementary and Secondary Education",
         "competency": "The educator gives feedback that moves learning.", "key_method": "Feedback cycles",
         "estimated_hours": 6, "inservice_hours": 6, "description": None, "resources": [], "prompts": {},
         "badge_image": None, "earning_rule": "Every criterion at Demonstrated.",
         "required_level_key": "demonstrated", "is_retired": True, "position": 2, **_stamps(1)},
    ],
    "catalog_term": [
        {"id": 1, "key": "2026-fall", "title": "Fall 2026", "enrollment_opens_at": _at(-10),
         "enrollment_closes_at": _at(30), "recommended_submission_at": _at(40), "final_deadline_at": _at(60),
         "time_zone": "America/New_York", "earner_limit": 100, "position": 1, **_stamps()},
    ],
    "lti_registration": [
        {"id": 1, "name": "District Moodle", "issuer": "https://moodle.district.example", "client_id": "aBc123",
         "auth_login_url": "https://moodle.district.example/mod/lti/auth.php",
         "auth_token_url": "https://moodle.district.example/mod/lti/token.php", "auth_audience": None,
         "key_set_url": "https://moodle.district.example/mod/lti/certs.php", "key_set": None,
         "product_family_code": "moodle", "is_default_for_issuer": True, "is_active": True,
         "manages_catalog": True, **_stamps()},
    ],
    "lti_used_nonce": [
        {"id": 1, "issuer": "https://moodle.district.example", "nonce": "nonce-one", "expires_at": _at(1)},
        {"id": 2, "issuer": "https://moodle.district.example", "nonce": "nonce-two", "expires_at": _at(2)},
    ],
    "catalog_rubric_criterion": [
        {"id": 1, "microcredential_id": 1, "key": "goal", "title": "A growth goal", "part": "overview",
         "position": 1, "descriptors": RUBRIC_DESCRIPTORS},
        {"id": 2, "microcredential_id": 1, "key": "evidence", "title": "Evidence of practice", "part": "artifacts",
         "position": 2, "descriptors": RUBRIC_DESCRIPTORS},
        {"id": 3, "microcredential_id": 1, "key": "reflection", "title": "Reflection on growth",
         "part": "reflection", "position": 3, "descriptors": RUBRIC_DESCRIPTORS},
    ],
    "catalog_rubric_level": [
        {"id": 1, "microcredential_id": 1, "key": "notyet", "label": "Not yet", "position": 1},
        {"id": 2, "microcredential_id": 1, "key": "developing", "label": "Developing", "position": 2},
        {"id": 3, "microcredential_id": 1, "key": "demonstrated", "label": "Demonstrated", "position": 3},
        {"id": 4, "microcredential_id": 2, "key": "demonstrated", "label": "Demonstrated", "position": 1},
    ],
    "lti_deployment": [
        {"id": 1, "registration_id": 1, "deployment_id": "7", "name": "Whole site", "is_active": True, **_stamps()},
    ],
    "lti_registration_invite": [
        {"id": 1, "token_hash": "a" * 64, "note": "Moodle via Dynamic Registration", "created_at": _at(-1),
         "expires_at": _at(-1, hours=1), "used_at": _at(-1, hours=0.5), "registration_id": 1},
    ],
    "lti_user": [
        {"id": 1, "registration_id": 1, "sub": "user-learner-1", "name": "Ada Lovelace", "given_name": "Ada",
         "family_name": "Lovelace", "email": "ada@school.example", **_stamps()},
        {"id": 2, "registration_id": 1, "sub": "user-learner-2", "name": "Katherine Johnson",
         "given_name": "Katherine", "family_name": "Johnson", "email": "katherine.johnson@school.example",
         **_stamps()},
        {"id": 3, "registration_id": 1, "sub": "user-instructor-1", "name": "Grace Hopper", "given_name": "Grace",
         "family_name": "Hopper", "email": "grace@school.example", **_stamps()},
    ],
    "submission_enrollment_quota": [
        {"id": 1, "microcredential_id": 1, "term_id": 1, "enrolled_count": 2},
    ],
    "lti_context": [
        {"id": 1, "deployment_id": 1, "context_id": "course-1", "title": "Professional Learning 2026",
         "label": "EDU-101", "memberships_url": "https://moodle.district.example/mod/lti/services.php/1/memberships",
         "lineitems_url": "https://moodle.district.example/mod/lti/services.php/1/lineitems",
         "ags_scopes": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"], "roster_synced_at": _at(2),
         **_stamps()},
    ],
    "lti_membership": [
        {"id": 1, "context_id": 1, "user_id": 1, "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
         "status": "Active", **_stamps()},
        {"id": 2, "context_id": 1, "user_id": 2, "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
         "status": "Active", **_stamps()},
        {"id": 3, "context_id": 1, "user_id": 3,
         "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"], "status": "Active", **_stamps()},
    ],
    "lti_resource_link": [
        {"id": 1, "context_id": 1, "resource_link_id": "activity-1", "title": "Self-assessment micro-credential",
         "microcredential_slug": "self-assessment-growth", **_stamps()},
    ],
    "lti_line_item": [
        {"id": 1, "resource_link_id": 1, "url": "https://moodle.district.example/mod/lti/services.php/1/lineitems/9/lineitem",
         "label": "Educator Self-Assessment and Professional Growth", "score_maximum": 1.0,
         "resource_id": "self-assessment-growth", "tag": "microcredential", **_stamps()},
    ],
    "submission_enrollment": [
        {"id": 1, "user_id": 1, "microcredential_id": 1, "term_id": 1, "resource_link_id": 1, **_stamps(1)},
        {"id": 2, "user_id": 2, "microcredential_id": 1, "term_id": 1, "resource_link_id": 1, **_stamps(1)},
    ],
    "gradebook_outbox_message": [
        {"id": 1, "kind": "score", "registration_id": 1, "resource_link_id": 1, "line_item_id": 1, "user_id": 1,
         "payload": {**SCORE_PAYLOAD, "activityProgress": "InProgress", "gradingProgress": "NotReady"},
         "status": "sent", "attempts": 1, "next_attempt_at": _at(1), "leased_until": None, "leased_by": None,
         "last_error": None, "last_status_code": 200, "created_at": _at(1), "sent_at": _at(1, hours=0.1)},
        {"id": 2, "kind": "score", "registration_id": 1, "resource_link_id": 1, "line_item_id": 1, "user_id": 1,
         "payload": SCORE_PAYLOAD, "status": "pending", "attempts": 2, "next_attempt_at": _at(2, hours=1),
         "leased_until": None, "leased_by": None, "last_error": "The LMS answered 503", "last_status_code": 503,
         "created_at": _at(2), "sent_at": None},
    ],
    "submission_attempt": [
        {"id": 1, "enrollment_id": 1, "number": 1, "status": "submitted", "marking_status": "notmarked",
         "overview": "My students will benefit from clearer goals.", "reflection": "I learned to plan with data.",
         "collaborated": True, "collaborators": "Grace Hopper", "version": 7, "submitted_at": _at(2),
         "content_changed_at": _at(1, hours=5), **_stamps(1)},
        {"id": 2, "enrollment_id": 2, "number": 1, "status": "draft", "marking_status": "notmarked",
         "overview": "A first draft — with “quotes”, ünïcödé and <b>markup</b>.", "reflection": "",
         "collaborated": None, "collaborators": "", "version": 2, "submitted_at": None,
         "content_changed_at": _at(1, hours=2), **_stamps(1)},
    ],
    "submission_artifact": [
        {"id": 1, "attempt_id": 1, "kind": "file", "position": 1, "title": "Lesson plan", "url": None,
         "file_name": "lesson-plan.pdf", "storage_key": "3f/9a/3f9a0c2e1d/lesson-plan.pdf",
         "content_type": "application/pdf", "size": 48213, "sha256": "b" * 64, "created_at": _at(1, hours=3)},
        {"id": 2, "attempt_id": 1, "kind": "link", "position": 2, "title": "Class video",
         "url": "https://video.example/watch?v=abc&t=10", "file_name": None, "storage_key": None,
         "content_type": None, "size": None, "sha256": None, "created_at": _at(1, hours=4)},
        {"id": 3, "attempt_id": 2, "kind": "link", "position": 1, "title": "Shared folder",
         "url": "https://drive.example/folder/xyz", "file_name": None, "storage_key": None, "content_type": None,
         "size": None, "sha256": None, "created_at": _at(1, hours=2)},
    ],
}


# -- a database of its own ---------------------------------------------------------------------------------------
@pytest.fixture
def upgrade_app(tmp_path_factory, empty_database_url):
    overrides = conftest.test_overrides(tmp_path_factory)
    overrides["SQLALCHEMY_DATABASE_URI"] = empty_database_url
    application = create_app("testing", overrides)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


# -- helpers ------------------------------------------------------------------------------------------------------
def _script(app) -> ScriptDirectory:
    return ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())


def _current_heads() -> tuple[str, ...]:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_heads()


def _reflected() -> sa.MetaData:
    metadata = sa.MetaData()
    metadata.reflect(bind=db.engine)
    return metadata


def _snapshot(metadata: sa.MetaData, tables) -> dict[str, list[dict]]:
    """Every row of `tables`, every column, ordered by primary key."""
    snapshot = {}
    with db.engine.connect() as connection:
        for name in tables:
            table = metadata.tables[name]
            query = sa.select(table).order_by(*table.primary_key.columns)
            snapshot[name] = [dict(row._mapping) for row in connection.execute(query)]
    return snapshot


def _as_utc(value):
    """SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


# -- the tests ----------------------------------------------------------------------------------------------------
def test_the_release_reaches_head_by_upgrade_alone(upgrade_app):
    """No branch to merge and no `flask db downgrade` first: the release is an ancestor of the one head."""
    with upgrade_app.app_context():
        script = _script(upgrade_app)
        heads = script.get_heads()
        assert len(heads) == 1, f"the migrations have several heads, merge them: {heads}"
        path = [revision.revision for revision in script.walk_revisions("base", heads[0])]
        assert RELEASE in path, "head does not descend from the landed release"
        assert script.get_revision(RELEASE).down_revision is None  # the release is where history starts


def test_an_upgrade_from_the_previous_release_keeps_every_row(upgrade_app):
    with upgrade_app.app_context():
        upgrade(revision=RELEASE)
        assert _current_heads() == (RELEASE,)
        at_release = _reflected()
        assert set(ROWS) <= set(at_release.tables), "the release's tables are not what this test fills"
        with db.engine.begin() as connection:
            for name, rows in ROWS.items():
                connection.execute(at_release.tables[name].insert(), rows)
            if db.engine.dialect.name == "postgresql":  # explicit ids: move each sequence past them
                for name in ROWS:
                    connection.execute(sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"))
        before = _snapshot(at_release, ROWS)
        db.engine.dispose()  # the upgrade starts on fresh connections, as `flask db upgrade` in a new process

        result = upgrade_app.test_cli_runner().invoke(args=["db", "upgrade"])  # as an operator runs it
        assert result.exit_code == 0, result.output

        assert _current_heads() == tuple(_script(upgrade_app).get_heads())
        at_head = _reflected()
        after = _snapshot(at_head, [name for name in ROWS if name in at_head.tables])
        for name, rows in before.items():
            if name in DROPPED_TABLES:
                assert name not in at_head.tables, f"{name} should be gone: {DROPPED_TABLES[name]}"
                continue
            assert name in after or any(old[0] == name for old in MOVED_COLUMNS), f"table {name} is gone"
            assert len(after.get(name, [])) == len(rows), f"{name}: {len(rows)} rows before, {len(after[name])} after"
            for old_row, new_row in zip(rows, after[name], strict=True):
                for column, value in old_row.items():
                    table, moved = MOVED_COLUMNS.get((name, column), (name, column))
                    assert table == name, "a moved table needs its own comparison here"
                    assert moved in new_row, f"{name}.{column} is gone"
                    assert new_row[moved] == value, f"{name} id {old_row['id']}: {column} changed"

        # The values that matter most, against what was written (not only against the first reading).
        assert [r["overview"] for r in after["submission_attempt"]] == [
            r["overview"] for r in ROWS["submission_attempt"]]
        assert [(r["kind"], r["storage_key"], r["url"]) for r in after["submission_artifact"]] == [
            (r["kind"], r["storage_key"], r["url"]) for r in ROWS["submission_artifact"]]
        assert [r["payload"] for r in after["gradebook_outbox_message"]] == [
            r["payload"] for r in ROWS["gradebook_outbox_message"]]
        assert [_as_utc(r["final_deadline_at"]) for r in after["catalog_term"]] == [_at(60)]
        assert [r["descriptors"] for r in after["catalog_rubric_criterion"]] == [RUBRIC_DESCRIPTORS] * 3
        # Badges (c155e27f7f92): each existing micro-credential is issued by the profile named like its organization.
        issuers = [r["issuer_profile_id"] for r in after["catalog_microcredential"]]
        assert issuers == [1] * len(ROWS["catalog_microcredential"])


def test_the_current_models_read_the_upgraded_rows_and_match_its_schema(upgrade_app):
    with upgrade_app.app_context():
        upgrade(revision=RELEASE)
        at_release = _reflected()
        with db.engine.begin() as connection:
            for name, rows in ROWS.items():
                connection.execute(at_release.tables[name].insert(), rows)
        upgrade()

        # Every mapped model reads every old row of its table (enums, JSON and defaults included).
        for mapper in db.Model.registry.mappers:
            table = mapper.local_table
            if mapper.inherits is None and table.name in ROWS and table.name not in DROPPED_TABLES:
                loaded = db.session.scalars(sa.select(mapper.class_)).all()
                assert len(loaded) == len(ROWS[table.name]), f"{mapper.class_.__name__} lost rows"
        db.session.rollback()

        # The upgraded database, not only a fresh one (tests/unit/test_smoke_schema.py), is what the models say.
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == [], f"the upgraded schema differs from the models: {differences}"


# -- one person per issuer (536db0ba815f) ---------------------------------------------------------------------------
LAST_RELEASE = "c155e27f7f92"  # the revision before one person per issuer
OTHER_ISSUER = "https://canvas.other.example"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


def _registration(id_: int, issuer: str, client_id: str) -> dict:
    return {**ROWS["lti_registration"][0], "id": id_, "issuer": issuer, "client_id": client_id,
            "name": f"Tool type {client_id}", "is_default_for_issuer": False, "manages_catalog": False}


def _user(id_: int, registration_id: int, sub: str, name: str, days: float) -> dict:
    return {"id": id_, "registration_id": registration_id, "sub": sub, "name": name, "given_name": None,
            "family_name": None, "email": None, **_stamps(days)}


def _attempt(id_: int, enrollment_id: int, status: str, days: float) -> dict:
    return {**ROWS["submission_attempt"][0], "id": id_, "enrollment_id": enrollment_id, "status": status,
            "submitted_at": _at(days) if status == "submitted" else None, **_stamps(days)}


# What the last release (c155e27f7f92) may hold: the same Moodle (one issuer) registered the tool twice (two tool
# types, two client ids), so three of its people were recorded twice; another issuer reuses one of their subs.
SAME_PEOPLE_ROWS: dict[str, list[dict]] = {
    **ROWS,
    "lti_registration": ROWS["lti_registration"] + [
        _registration(2, "https://moodle.district.example", "second-tool-type"),
        _registration(3, OTHER_ISSUER, "canvas-1")],
    "lti_deployment": ROWS["lti_deployment"] + [
        {"id": 2, "registration_id": 2, "deployment_id": "7", "name": None, "is_active": True, **_stamps()},
        {"id": 3, "registration_id": 3, "deployment_id": "1", "name": None, "is_active": True, **_stamps()}],
    "lti_user": ROWS["lti_user"] + [
        # Ada again (through the second tool type), later and with her work in the retired micro-credential.
        {**_user(4, 2, "user-learner-1", "Ada L.", 3), "email": "ada.lovelace@school.example",
         "last_launch_at": _at(5)},
        # Katherine again, with more work in the micro-credential both records are enrolled in (same term).
        _user(5, 2, "user-learner-2", "Katherine Johnson", 4),
        # Grace again, an organization assessor there.
        _user(6, 2, "user-instructor-1", "Grace Hopper", 4),
        # Another issuer's person who happens to have Ada's sub: someone else.
        _user(7, 3, "user-learner-1", "Alan Turing", 4)],
    "lti_context": ROWS["lti_context"] + [
        {**ROWS["lti_context"][0], "id": 2, "deployment_id": 2, "context_id": "course-2", "title": "Coaching"},
        {**ROWS["lti_context"][0], "id": 3, "deployment_id": 3, "context_id": "course-1", "title": "Elsewhere"}],
    "lti_membership": ROWS["lti_membership"] + [
        # Ada's second record in her first course (written later: its roles win) and in a course of its own.
        {"id": 4, "context_id": 1, "user_id": 4, "roles": [LEARNER, "urn:lti:role:ims/lis/Mentor"],
         "status": "Active", **_stamps(3)},
        {"id": 5, "context_id": 2, "user_id": 4, "roles": [LEARNER], "status": "Active", **_stamps(3)},
        {"id": 6, "context_id": 2, "user_id": 5, "roles": [LEARNER], "status": "Active", **_stamps(4)},
        {"id": 7, "context_id": 3, "user_id": 7, "roles": [LEARNER], "status": "Active", **_stamps(4)}],
    "lti_resource_link": ROWS["lti_resource_link"] + [
        {**ROWS["lti_resource_link"][0], "id": 2, "context_id": 2, "resource_link_id": "activity-2",
         "microcredential_slug": "feedback-for-learning"},
        {**ROWS["lti_resource_link"][0], "id": 3, "context_id": 2, "resource_link_id": "activity-3"},
        {**ROWS["lti_resource_link"][0], "id": 4, "context_id": 3, "resource_link_id": "activity-1"}],
    "submission_enrollment": ROWS["submission_enrollment"] + [
        {"id": 3, "user_id": 4, "microcredential_id": 2, "term_id": 1, "resource_link_id": 2, **_stamps(3)},
        {"id": 4, "user_id": 5, "microcredential_id": 1, "term_id": 1, "resource_link_id": 3, **_stamps(4)},
        {"id": 5, "user_id": 7, "microcredential_id": 1, "term_id": 1, "resource_link_id": 4, **_stamps(4)}],
    "submission_attempt": ROWS["submission_attempt"] + [
        _attempt(3, 3, "submitted", 3),
        _attempt(4, 4, "submitted", 4),
        {**_attempt(5, 4, "draft", 5), "number": 2}],
    "assessment_assessment": [
        {"id": 1, "attempt_id": 3, "registration_id": 2, "context_id": 2, "microcredential_id": 2, "educator_id": 4,
         "pseudonym": "P-ADA", "attempt_number": 1, "submitted_at": _at(3), "due_at": _at(10),
         "is_double_blind": False, "needs_review": False, "reopen_allowed": False, "reviewer_id": 6,
         "decision": "earned", "released_at": _at(4), **_stamps(3)},
    ],
    "assessment_assessor_grant": [
        {"id": 1, "registration_id": 2, "user_id": 6, "microcredential_id": 2, "is_active": True,
         "granted_by_id": None, **_stamps(4)},
    ],
    "badge_badge": [
        {"id": 1, "uuid": str(uuid.UUID(int=1)), "assessment_id": 1, "enrollment_id": 3, "user_id": 4,
         "microcredential_id": 2, "issuer_profile_id": 1, "status": "awaiting_email", "earned_at": _at(4),
         "display_name": "full", **_stamps(4)},
    ],
    "badge_earner_profile": [
        {"id": 1, "user_id": 4, "public_slug": "ada-public", "is_public": True, **_stamps(4)},
    ],
    "gradebook_outbox_message": ROWS["gradebook_outbox_message"] + [
        {**ROWS["gradebook_outbox_message"][1], "id": 3, "registration_id": 2, "resource_link_id": 2,
         "line_item_id": None, "user_id": 4},
    ],
}
# Where each person's rows are after the upgrade: Ada's second record is merged into her first; Katherine's first
# record stays apart (both are enrolled in the same micro-credential and term) and the second, with more work, is
# the one her launches reach; Grace's second record is merged; the other issuer's person stays someone else.
MERGED_INTO = {4: 1, 6: 3}


@pytest.fixture
def at_last_release(upgrade_app):
    """The last release's schema filled with SAME_PEOPLE_ROWS; yields the rows as read back."""
    with upgrade_app.app_context():
        upgrade(revision=LAST_RELEASE)
        metadata = _reflected()
        with db.engine.begin() as connection:
            for name, rows in SAME_PEOPLE_ROWS.items():
                columns = {column for row in rows for column in row}  # an executemany takes the first row's keys
                connection.execute(metadata.tables[name].insert(), [dict.fromkeys(columns) | row for row in rows])
            if db.engine.dialect.name == "postgresql":
                for name in SAME_PEOPLE_ROWS:
                    connection.execute(sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"))
        before = _snapshot(metadata, SAME_PEOPLE_ROWS)
        db.engine.dispose()
        yield before


def _user_columns(metadata: sa.MetaData) -> dict[str, list[str]]:
    """Every column of every table that refers to a person (read from the schema, as the migration does)."""
    columns: dict[str, list[str]] = {}
    for table in metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "lti_user" and table.name != "lti_user":
                columns.setdefault(table.name, []).append(fk.parent.name)
    return columns


def test_an_upgrade_makes_one_person_per_issuer_and_keeps_their_work(upgrade_app, at_last_release):
    before = at_last_release
    with upgrade_app.app_context():
        result = upgrade_app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        at_head = _reflected()
        assert "lti_used_nonce" not in at_head.tables
        after = _snapshot(at_head, [name for name in SAME_PEOPLE_ROWS if name in at_head.tables])

    people = {row["id"]: row for row in after["lti_user"]}
    assert sorted(people) == [1, 2, 3, 5, 7]  # 4 and 6 merged; 2 kept apart
    assert {(p["issuer"], p["sub"]) for p in people.values()} == {
        ("https://moodle.district.example", "user-learner-1"),
        ("https://moodle.district.example", "unmerged:2:user-learner-2"),
        ("https://moodle.district.example", "user-instructor-1"),
        ("https://moodle.district.example", "user-learner-2"),
        (OTHER_ISSUER, "user-learner-1")}
    assert people[5]["sub"] == "user-learner-2"  # the record with more work is the one launches reach
    assert people[1]["registration_id"] == 1  # first seen through the first tool type
    # The kept record keeps its name and takes what only the merged one knew.
    assert (people[1]["name"], people[1]["email"]) == ("Ada Lovelace", "ada@school.example")
    assert _as_utc(people[1]["last_launch_at"]) == _at(5)

    # Every row other than the merged people and their doubled course membership is still there, with the same
    # values, except that it now refers to the kept person.
    references = _user_columns(at_head)
    for name, rows in before.items():
        if name in ("lti_user", "lti_used_nonce"):
            continue
        kept = {row["id"]: row for row in after[name]}
        for old in rows:
            if name == "lti_membership" and old["id"] in (1, 4):
                continue  # Ada's two memberships of course 1 are one now: below
            assert old["id"] in kept, f"{name} {old['id']} is gone"
            for column, value in old.items():
                expected = MERGED_INTO.get(value, value) if column in references.get(name, []) else value
                assert kept[old["id"]][column] == expected, f"{name} {old['id']}: {column}"
    memberships = {row["id"]: row for row in after["lti_membership"]}
    assert 4 not in memberships
    assert (memberships[1]["context_id"], memberships[1]["user_id"]) == (1, 1)
    assert memberships[1]["roles"] == [LEARNER, "urn:lti:role:ims/lis/Mentor"]  # the roles written last

    # Ada's work from both tool types is reachable from the one Ada: enrollments, attempts, assessment, badge.
    enrollments = {row["id"]: row["user_id"] for row in after["submission_enrollment"]}
    assert enrollments == {1: 1, 2: 2, 3: 1, 4: 5, 5: 7}
    assert [row["user_id"] for row in after["badge_badge"]] == [1]
    assert [row["educator_id"] for row in after["assessment_assessment"]] == [1]
    assert [row["reviewer_id"] for row in after["assessment_assessment"]] == [3]
    assert [row["user_id"] for row in after["assessment_assessor_grant"]] == [3]
    assert [row["user_id"] for row in after["badge_earner_profile"]] == [1]

    # The decisions are in the log.
    logged = result.output
    assert "lti_user 4 (issuer https://moodle.district.example, sub user-learner-1) merged into lti_user 1" in logged
    assert "lti_user 2 (issuer https://moodle.district.example, sub user-learner-2) is the same person" in logged

    # The current models read it: one person per issuer and sub, with the work of both registrations.
    with upgrade_app.app_context():
        from lti_tool.badges.models import Badge
        from lti_tool.lti.models import LtiUser
        from lti_tool.submissions.models import Enrollment

        ada = db.session.scalar(sa.select(LtiUser).filter_by(issuer="https://moodle.district.example",
                                                             sub="user-learner-1"))
        assert ada.id == 1
        ada_enrollments = db.session.scalars(sa.select(Enrollment).filter_by(user_id=ada.id)
                                             .order_by(Enrollment.id)).all()
        assert [(e.id, len(e.attempts)) for e in ada_enrollments] == [(1, 1), (3, 1)]
        assert [b.id for b in db.session.scalars(sa.select(Badge).filter_by(user_id=ada.id))] == [1]
        db.session.rollback()


def test_a_downgrade_from_one_person_per_issuer_goes_back_to_the_last_release(upgrade_app, at_last_release):
    with upgrade_app.app_context():
        upgrade()
        result = upgrade_app.test_cli_runner().invoke(args=["db", "downgrade", LAST_RELEASE])
        assert result.exit_code == 0, result.output
        metadata = _reflected()
        assert "lti_used_nonce" in metadata.tables and "issuer" not in metadata.tables["lti_user"].columns
        users = _snapshot(metadata, ["lti_user"])["lti_user"]
        assert [u["id"] for u in users] == [1, 2, 3, 5, 7]


# -- scores per placement and per platform (7d3e9a1b2c4f) ----------------------------------------------------------
ONE_PERSON_RELEASE = "536db0ba815f"  # the release that landed with issue 9


def test_an_upgrade_from_one_person_per_issuer_keeps_every_row_and_knows_where_people_launched(
        upgrade_app, at_last_release):
    with upgrade_app.app_context():
        upgrade(revision=ONE_PERSON_RELEASE)
        at_release = _reflected()
        before = _snapshot(at_release, [name for name in at_release.tables if name != "alembic_version"])
        db.engine.dispose()

        result = upgrade_app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        at_head = _reflected()
        after = _snapshot(at_head, list(before) + ["lti_resource_link_launch"])

    assert sum(len(rows) for rows in before.values()) > 40  # the filled release, not an empty one
    for name, rows in before.items():
        assert len(after[name]) == len(rows), f"{name}: {len(rows)} rows before, {len(after[name])} after"
        for old, new in zip(rows, after[name], strict=True):
            assert {column: new[column] for column in old} == old, f"{name} {old['id']} changed"
    assert all(row["progress_scores_refused_at"] is None for row in after["lti_registration"])

    # Where each person launched from: every enrollment's resource link and every resource link scored for them.
    expected = {(row["resource_link_id"], row["user_id"]) for row in after["submission_enrollment"]}
    expected |= {(row["resource_link_id"], row["user_id"]) for row in after["gradebook_outbox_message"]}
    launches = after["lti_resource_link_launch"]
    assert {(row["resource_link_id"], row["user_id"]) for row in launches} == expected
    assert len(launches) == len(expected)
    first_enrollment = min(_as_utc(r["created_at"]) for r in after["submission_enrollment"]
                           if (r["resource_link_id"], r["user_id"]) == (1, 1))
    ada_first = next(r for r in launches if (r["resource_link_id"], r["user_id"]) == (1, 1))
    assert _as_utc(ada_first["first_launch_at"]) <= first_enrollment


def test_a_downgrade_from_scores_per_placement_keeps_declined_scores_as_never_sent(upgrade_app, at_last_release):
    with upgrade_app.app_context():
        upgrade()
        db.session.execute(sa.text("UPDATE gradebook_outbox_message SET status = 'declined' WHERE id = 1"))
        db.session.commit()
        db.engine.dispose()
        result = upgrade_app.test_cli_runner().invoke(args=["db", "downgrade", ONE_PERSON_RELEASE])
        assert result.exit_code == 0, result.output
        metadata = _reflected()
        assert "lti_resource_link_launch" not in metadata.tables
        assert "progress_scores_refused_at" not in metadata.tables["lti_registration"].columns
        statuses = {row["id"]: row["status"] for row in _snapshot(metadata, ["gradebook_outbox_message"])[
            "gradebook_outbox_message"]}
        assert statuses[1] == "superseded"


# -- storage backend per file (9b4e2c7d1a60) -------------------------------------------------------------------------
PLACEMENT_RELEASE = "7d3e9a1b2c4f"  # scores per placement and per platform, the revision before 9b4e2c7d1a60
STORAGE_BACKEND_REVISION = "9b4e2c7d1a60"


def _more_files(attempt_id: int) -> list[dict]:
    """Stored files as uploads wrote them before a file knew its backend (keys of today's shape)."""
    return [{"id": 10 + n, "attempt_id": attempt_id, "kind": "file", "position": 3 + n, "title": f"File {n}",
             "url": None, "file_name": f"file-{n}.pdf", "storage_key": f"{n:02x}/{n:030x}",
             "content_type": "application/pdf", "size": 1000 + n, "sha256": f"{n:064x}", "created_at": _at(2)}
            for n in range(3)]


@pytest.fixture
def at_placement_release(upgrade_app, at_last_release):
    """The filled database at 7d3e9a1b2c4f, with a few more stored files; yields every table as read back."""
    with upgrade_app.app_context():
        upgrade(revision=PLACEMENT_RELEASE)
        metadata = _reflected()
        with db.engine.begin() as connection:
            connection.execute(metadata.tables["submission_artifact"].insert(), _more_files(attempt_id=1))
        before = _snapshot(metadata, [name for name in metadata.tables if name != "alembic_version"])
        db.engine.dispose()
        yield before


def test_an_upgrade_to_a_backend_per_file_keeps_every_row_and_says_every_file_is_on_local_disk(
        upgrade_app, at_placement_release):
    before = at_placement_release
    with upgrade_app.app_context():
        result = upgrade_app.test_cli_runner().invoke(args=["db", "upgrade", STORAGE_BACKEND_REVISION])
        assert result.exit_code == 0, result.output
        after = _snapshot(_reflected(), list(before))

    assert len(before["submission_artifact"]) == 6 and sum(len(rows) for rows in before.values()) > 40
    for name, rows in before.items():
        assert len(after[name]) == len(rows), f"{name}: {len(rows)} rows before, {len(after[name])} after"
        for old, new in zip(rows, after[name], strict=True):
            assert {column: new[column] for column in old} == old, f"{name} {old['id']} changed"
    assert [(row["kind"], row["storage_backend"]) for row in after["submission_artifact"]] == [
        (row["kind"], "local") for row in before["submission_artifact"]]


def test_a_downgrade_from_a_backend_per_file_keeps_every_file_row(upgrade_app, at_placement_release):
    before = at_placement_release["submission_artifact"]
    with upgrade_app.app_context():
        upgrade(revision=STORAGE_BACKEND_REVISION)
        db.engine.dispose()
        result = upgrade_app.test_cli_runner().invoke(args=["db", "downgrade", PLACEMENT_RELEASE])
        assert result.exit_code == 0, result.output
        assert _current_heads() == (PLACEMENT_RELEASE,)
        metadata = _reflected()
        assert "storage_backend" not in metadata.tables["submission_artifact"].columns
        assert _snapshot(metadata, ["submission_artifact"])["submission_artifact"] == before


def test_a_downgrade_past_a_backend_per_file_is_refused_while_files_are_in_s3(upgrade_app, at_placement_release):
    """Before 9b4e2c7d1a60 every file was on local disk: forgetting that one is in S3 would lose it."""
    with upgrade_app.app_context():
        upgrade(revision=STORAGE_BACKEND_REVISION)
        with db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE submission_artifact SET storage_backend = 's3' WHERE id = 11"))
        db.engine.dispose()
        result = upgrade_app.test_cli_runner().invoke(args=["db", "downgrade", PLACEMENT_RELEASE])
        assert result.exit_code != 0
        assert "storage migrate --to local" in result.output
        db.engine.dispose()
        assert _current_heads() == (STORAGE_BACKEND_REVISION,)
        assert _snapshot(_reflected(), ["submission_artifact"])["submission_artifact"][4]["storage_backend"] == "s3"
