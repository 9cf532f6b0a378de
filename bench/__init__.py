"""`make bench` (`python -m bench`): six sections in sequence, then a summary of the headline numbers.

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
5. queue — the assessor queue with 10,000 submitted attempts across 50 courses (bulk-inserted as the services
   write them), seen by an organization assessor who launched from the platform: first page p50/p95 next to
   /healthz in the same run, SQL statements per page (bench/assessment_queue.py). Target: p50 within 10x /healthz.
6. release — 1,000 decisions ready for release, one POST /assessment/release, then `flask worker` as its own
   process until the test platform's AGS endpoint holds every Completed score; token requests and score POSTs
   counted (bench/bulk_release.py). Target: every score in the LMS within 10 s of the click.

`--only launches,submission,upload,progress,queue,release` picks sections, `--quick` shrinks the sizes; the exit
status is non-zero when a launch fails, a warm launch calls out, the upload grows the worker too much, the queue or
the release misses its target, or any HTTP error.
"""
