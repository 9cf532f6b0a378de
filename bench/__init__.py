"""`make bench` (`python -m bench`): four sections in sequence, then a summary of the headline numbers.

1. launches — the tool under gunicorn (deploy/gunicorn.conf.py, APP_ENV=production) on 127.0.0.1 with a
   temporary SQLite database (or DATABASE_URL / REDIS_URL from the environment), the independent test
   platform (tests/platform) in-process; in the same run a trivial page (/healthz) and whole launches:
   login → platform authorization → launch → landing page. Targets (from the issue): a launch costs the
   tool at most 3× a trivial page, and a warm launch makes no outbound HTTP call (the platform counts every
   request it receives other than the browser's /auth).
2. submission — the educator's submission page with 30 artifacts (files and links added through the real
   endpoints), p50/p95 of 50 GETs next to /healthz, its size and SQL statements (bench/submission_page.py).
3. upload — peak gunicorn worker RSS while a 1 GiB body streams to POST /artifacts/upload
   (bench/upload_memory.py); fails when the worker grows by more than 64 MiB.
4. progress — the instructor's progress page and CSV with 5,000 enrolled educators (bench/progress_view.py).

`--only launches,submission,upload,progress` picks sections, `--quick` shrinks the sizes; the exit status is
non-zero when a launch fails, a warm launch calls out, the upload grows the worker too much, or any HTTP error.
"""
