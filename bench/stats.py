"""Small helpers shared by the benchmark sections: percentiles, milliseconds, gunicorn's access log."""

from __future__ import annotations

import re
from pathlib import Path

# deploy/gunicorn.conf.py: '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
ACCESS_LINE = re.compile(r'"[A-Z]+ (?P<path>[^ ?]+)[^"]*" (?P<status>\d{3}) \S+ (?P<ms>\d+)ms(?: (?P<us>\d+)us)?')


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f}"


def access_log_offset(access_log: Path) -> int:
    return access_log.stat().st_size if access_log.exists() else 0


def access_log_times(access_log: Path, offset: int, paths: dict[str, str]) -> dict[str, list[float]]:
    """Request times (whole ms) gunicorn measured after `offset`, per name of the tool paths in `paths`."""
    times: dict[str, list[float]] = {}
    if not access_log.exists():
        return times
    with open(access_log, "rb") as handle:
        handle.seek(offset)
        for line in handle.read().decode(errors="replace").splitlines():
            match = ACCESS_LINE.search(line)
            if match and match["path"] in paths:
                # microseconds where the log has them (bench/gunicorn_counting.py), else whole milliseconds
                value = float(match["us"]) / 1000 if match["us"] else float(match["ms"])
                times.setdefault(paths[match["path"]], []).append(value)
    return {name: times[name] for name in paths.values() if name in times}
