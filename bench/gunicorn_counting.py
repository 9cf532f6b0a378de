"""gunicorn settings for the benchmark: exactly deploy/gunicorn.conf.py, plus per-request counters (bench/counting.py)
installed in each worker after it loaded the application. Both the tool and the minimal tool run with these."""

import runpy
from pathlib import Path

_production = runpy.run_path(str(Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"))
globals().update({name: value for name, value in _production.items() if not name.startswith("__")})
# The production line, with the request time in microseconds too (the server-side ratio needs more than whole ms).
access_log_format = _production["access_log_format"].replace("%(M)sms", "%(M)sms %(D)sus")


def post_worker_init(worker):
    from bench.counting import install

    worker.wsgi = install(worker.wsgi)
