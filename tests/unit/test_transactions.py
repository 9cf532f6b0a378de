"""`core.transactions`: a request commits once when it succeeds and rolls back when it answers 4xx or 5xx.

A view may answer a refusal without raising (`return render_template(...), 409`); what it wrote before deciding must
not stay. The probe routes below write one row and then answer every way a view can; a fresh session then looks
for the row. The app is the tool's own (`create_app`), so every hook it installs takes part.
"""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from flask import Blueprint, abort, redirect

from lti_tool import create_app
from lti_tool.core import errors
from lti_tool.core.transactions import after_commit
from lti_tool.extensions import db

probe_metadata = sa.MetaData()
probe = sa.Table("transaction_probe", probe_metadata, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("label", sa.String(40), nullable=False))

DOMAIN_ERRORS = {"invalid": errors.InvalidInput, "not-allowed": errors.NotAllowed, "not-found": errors.NotFound,
                 "conflict": errors.Conflict, "gone": errors.Gone, "launch": errors.LaunchError}
fates: list[str] = []  # what `after_commit` reported, request by request


def _write(label: str) -> None:
    db.session.execute(probe.insert().values(label=label))
    after_commit(lambda: fates.append(f"{label}: committed"), on_rollback=lambda: fates.append(f"{label}: rolled back"))


def probe_routes() -> Blueprint:
    bp = Blueprint("probe", __name__)

    @bp.post("/probe/answer/<int:status>")
    def answer(status: int):
        """The view itself answers with a status (no exception): only the after-request rule decides."""
        _write(f"answer-{status}")
        return f"answered {status}", status

    @bp.post("/probe/redirect")
    def see_other():
        _write("redirect")
        return redirect("/elsewhere", code=303)

    @bp.post("/probe/raise/<kind>")
    def raise_domain_error(kind: str):
        _write(f"raise-{kind}")
        raise DOMAIN_ERRORS[kind]("refused after writing")

    @bp.post("/probe/abort")
    def http_abort():
        _write("abort")
        abort(403)

    @bp.post("/probe/crash")
    def crash():
        _write("crash")
        raise RuntimeError("a bug after writing")

    return bp


@pytest.fixture
def probe_app(tmp_path):
    """The tool's app with the probe routes, on DATABASE_URL when set (PostgreSQL), else on its own SQLite file."""
    from config.settings import normalise_database_url

    database = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path / 'probe.sqlite'}"
    app = create_app("testing", {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "LTI_KEYS_DIR": str(tmp_path / "keys"),
        "CACHE_DIR": str(tmp_path / "cache"),
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database),
    })
    app.register_blueprint(probe_routes())
    with app.app_context():
        probe_metadata.drop_all(db.engine)  # a run stopped midway may have left it on a shared database
        probe_metadata.create_all(db.engine)
    fates.clear()
    yield app
    with app.app_context():
        db.session.remove()
        probe_metadata.drop_all(db.engine)
        db.engine.dispose()


def _labels(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(probe.c.label)))


@pytest.mark.parametrize("status", [200, 201, 204, 302, 303])
def test_a_success_commits(probe_app, status):
    probe_app.test_client().post(f"/probe/answer/{status}")
    assert _labels(probe_app) == [f"answer-{status}"]
    assert fates == [f"answer-{status}: committed"]


def test_a_redirect_commits(probe_app):
    assert probe_app.test_client().post("/probe/redirect").status_code == 303
    assert _labels(probe_app) == ["redirect"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 413, 422, 429])
def test_a_refusal_answered_by_the_view_rolls_back(probe_app, status):
    response = probe_app.test_client().post(f"/probe/answer/{status}")
    assert response.status_code == status
    assert _labels(probe_app) == []
    assert fates == [f"answer-{status}: rolled back"]


@pytest.mark.parametrize("kind", sorted(DOMAIN_ERRORS))
def test_a_domain_error_rolls_back(probe_app, kind):
    response = probe_app.test_client().post(f"/probe/raise/{kind}", headers={"Accept": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.get_json()["message"] == "refused after writing"
    assert _labels(probe_app) == []
    assert fates == [f"raise-{kind}: rolled back"]


def test_an_http_abort_rolls_back(probe_app):
    assert probe_app.test_client().post("/probe/abort").status_code == 403
    assert _labels(probe_app) == []


def test_an_unexpected_error_rolls_back(probe_app):
    assert probe_app.test_client().post("/probe/crash").status_code == 500
    assert _labels(probe_app) == []
    assert fates == ["crash: rolled back"]
