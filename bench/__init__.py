"""`make bench` (`python -m bench`): complete LTI launches against gunicorn on loopback.

It serves the tool with gunicorn (deploy/gunicorn.conf.py, APP_ENV=production) on 127.0.0.1 with a
temporary SQLite database (or DATABASE_URL / REDIS_URL from the environment), runs the independent
test platform (tests/platform) in-process, and measures in the same run a trivial page (/healthz) and
whole launches: login → platform authorization → launch → landing page.

Targets (from the issue): a launch costs the tool at most 3× a trivial page, and a warm launch makes
no outbound HTTP call (the platform counts every request it receives other than the browser's /auth).
"""
