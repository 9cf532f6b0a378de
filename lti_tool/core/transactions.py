"""A request commits or rolls back exactly once, at the edge."""

from collections.abc import Callable

from flask import Flask, current_app
from sqlalchemy import event

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


def after_commit(callback: Callable[[], None], *, on_rollback: Callable[[], None] | None = None) -> None:
    """Run `callback` once the request's transaction has committed, `on_rollback` if it ends any other way.

    For work outside the database that must follow its fate: delete a replaced file only once the
    change is committed, delete a just-stored file when the change is rolled back. Call it while the
    transaction is open (after a query or a flush); savepoints do not count as the end.
    """
    session = db.session()
    # Listeners cannot be removed while they run; they stay inert until the request's session is discarded.
    state = {"committed": False, "done": False}

    def committed(session_):
        if not session_.in_nested_transaction():
            state["committed"] = True

    def ended(session_, transaction):
        if state["done"] or transaction.parent is not None:  # a savepoint is not the request's transaction
            return
        state["done"] = True
        action = callback if state["committed"] else on_rollback
        if action is None:
            return
        try:
            action()
        except Exception:  # the transaction's outcome stands; a leftover file is only logged
            current_app.logger.exception("after_commit: %s failed", getattr(action, "__name__", action))

    event.listen(session, "after_commit", committed)
    event.listen(session, "after_transaction_end", ended)
