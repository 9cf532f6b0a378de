"""`flask --app wsgi demo setup`: register the demo LMS (development only)."""

from flask.cli import AppGroup

demo_cli = AppGroup("demo", help="The demo LMS (development only).")
