"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from lti_tool import create_app

app = create_app()
