"""A request commits or rolls back exactly once, at the edge."""

from flask import Flask

from lti_tool.extensions import db


def init_app(app: Flask) -> None:
    @app.after_request
    def commit_on_success(response):
        if response.status_code < 400:
            db.session.commit()
        else:
            db.session.rollback()
        return response

    @app.teardown_request
    def rollback_on_exception(exc):
        if exc is not None:
            db.session.rollback()
