"""The figures of one load-test run and the markdown table that compares the runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

KiB = 1024


@dataclass
class KindFigures:
    kind: str
    requests: int
    failures: int
    rps: float
    p50: float  # milliseconds (Locust's, rounded to two significant digits above 100 ms)
    p95: float
    p99: float


@dataclass
class Run:
    kinds: list[KindFigures]
    total: KindFigures
    wall_seconds: float  # ramp-up included (the launches happen during it), and the finishing
    ramp_up_seconds: float
    finishing_seconds: float  # after the minutes of load: waiting for the last educators' submissions
    submissions: int
    errors: list[str]
    exceptions: list[str]
    launches: int
    connections: list[int]  # PostgreSQL connections of the stack, one sample a second
    generator_cpu: list[float]  # the load generator's own CPU %, as Locust samples it
    load_before: tuple[float, float, float]  # the machine's, as the load starts (other work on it included)
    load_average: tuple[float, float, float]  # at the end
    web_servers: int = 0
    web_concurrency: int = 0
    outbox_workers: int = 0
    redis_before: dict = field(default_factory=dict)
    redis_after: dict = field(default_factory=dict)
    scores_received: int = 0

    @classmethod
    def from_stats(cls, stats, kinds, *, wall_seconds: float, **figures) -> Run:
        def figures_of(kind, entry) -> KindFigures:
            if entry is None or not entry.num_requests:
                return KindFigures(kind, 0, 0, 0.0, 0.0, 0.0, 0.0)
            return KindFigures(kind, entry.num_requests, entry.num_failures, entry.num_requests / wall_seconds,
                               *(entry.get_response_time_percentile(q) for q in (0.5, 0.95, 0.99)))

        by_name = {name: entry for (name, _method), entry in stats.entries.items()}
        return cls(kinds=[figures_of(kind, by_name.get(kind)) for kind in kinds],
                   total=figures_of("all", stats.total), wall_seconds=wall_seconds, **figures)

    @property
    def not_exercised(self) -> list[str]:
        return [figures.kind for figures in self.kinds if not figures.requests]

    @property
    def is_clean(self) -> bool:
        return not self.total.failures and not self.exceptions and not self.not_exercised

    @property
    def redis_bytes_per_thousand_launches(self) -> float | None:
        if not self.launches or not self.redis_after:
            return None
        return (self.redis_after["key_bytes"] - self.redis_before["key_bytes"]) / self.launches * 1000

    def as_dict(self) -> dict:
        return {**asdict(self), "not_exercised": self.not_exercised, "is_clean": self.is_clean,
                "redis_bytes_per_thousand_launches": self.redis_bytes_per_thousand_launches}


def markdown(runs: list[Run], args, *, cpus: int | None) -> str:
    """One table per run (per kind: requests, rps, p50/p95/p99, failures), then the runs side by side."""
    lines = [f"## Load test: {args.users} educators + {args.instructors} instructors, "
             f"{args.minutes:g} min after ramp-up ({cpus} CPUs shared by the load generator and the servers)", ""]
    for run in runs:
        lines += [f"### {run.web_servers} web server(s) × {run.web_concurrency} gunicorn sync workers, "
                  f"{run.outbox_workers} outbox workers", "",
                  "| kind | requests | rps | p50 ms | p95 ms | p99 ms | failures |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for figures in [*run.kinds, run.total]:
            name = f"**{figures.kind}**" if figures is run.total else figures.kind
            lines.append(f"| {name} | {figures.requests:,} | {figures.rps:.1f} | {figures.p50:,.0f} | "
                         f"{figures.p95:,.0f} | {figures.p99:,.0f} | {figures.failures} |")
        lines += ["", *_facts(run), ""]
        if run.errors or run.exceptions:
            lines += ["Failures (first ones, status and body head):", "", "```",
                      *run.errors, *run.exceptions, "```", ""]
    if len(runs) > 1:
        lines += ["### Side by side", "", "| | " + " | ".join(f"{r.web_servers} server(s)" for r in runs) + " |",
                  "|---|" + "---:|" * len(runs)]
        rows = [("total rps", lambda r: f"{r.total.rps:.1f}"),
                *[(f"{k} p95 ms", lambda r, i=i: f"{r.kinds[i].p95:,.0f}") for i, k in enumerate(_kind_names(runs))],
                ("failures", lambda r: str(r.total.failures)),
                ("peak DB connections", lambda r: str(max(r.connections, default=0))),
                ("load average (1 min) before → at the end",
                 lambda r: f"{r.load_before[0]:.1f} → {r.load_average[0]:.1f}")]
        lines += [f"| {label} | " + " | ".join(value(r) for r in runs) + " |" for label, value in rows]
        lines.append("")
    return "\n".join(lines)


def _load(average: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.1f}" for value in average)


def _kind_names(runs: list[Run]) -> list[str]:
    return [figures.kind for figures in runs[0].kinds]


def _facts(run: Run) -> list[str]:
    connections = run.connections or [0]
    redis_delta = run.redis_bytes_per_thousand_launches
    used_before, used_after = run.redis_before.get("used_memory", 0), run.redis_after.get("used_memory", 0)
    cpu = max(run.generator_cpu, default=0.0)
    facts = [
        f"- {run.wall_seconds:.0f} s in all (the rps are over all of it): {run.ramp_up_seconds:.0f} s ramping up, "
        f"then the minutes of load, then {run.finishing_seconds:.0f} s for the last submissions; "
        f"{run.launches} launches, {run.submissions} submissions; "
        f"{run.scores_received} scores reached the LMS through the outbox workers",
        f"- PostgreSQL connections of the stack: peak {max(connections)}, "
        f"mean {sum(connections) / len(connections):.1f} (sampled every second)",
        f"- Redis: this database {run.redis_before.get('keys', 0):,} → {run.redis_after.get('keys', 0):,} keys, "
        f"{run.redis_before.get('key_bytes', 0) / KiB:,.0f} → {run.redis_after.get('key_bytes', 0) / KiB:,.0f} KiB"
        + (f" ({redis_delta / KiB / 1024:.2f} MiB per thousand launches)" if redis_delta is not None else "")
        + f"; the server's used_memory {used_before / KiB / 1024:.1f} → {used_after / KiB / 1024:.1f} MiB",
        f"- load average before the load {_load(run.load_before)}, at the end {_load(run.load_average)}; "
        f"the load generator's own CPU peaked at {cpu:.0f}%",
    ]
    if run.not_exercised:
        facts.append(f"- never exercised: {', '.join(run.not_exercised)}")
    return facts
