"""The performance benchmark behind `make bench`: every staff page from 1k to 100k leads.

    .venv/bin/python bench/run.py [--sizes 1000 100000] [--databases sqlite postgres]
                                  [--requests 20] [--reuse] [--no-intake] [--intake-seconds 20]

For each database and size it seeds a separate benchmark database (SQLite files under
bench/work/, PostgreSQL databases `carecrm_bench_<N>`), then, in a child process configured for
that database, times every page with Django's test client in-process (median and 95th
percentile over `--requests` requests after two warm-up requests) and counts its SQL queries.
The public form's throughput is measured on the production stack (`make serve`, gunicorn with
2 workers) against a copy of the largest database. Results go to bench/results/bench.json and
bench/results/bench.md; the targets are printed as PASS/FAIL. See bench/README.md.
"""

import argparse
import contextlib
import http.client
import io
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"
RESULTS = BENCH / "results"
PYTHON = sys.executable
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/carecrm_bench"
HUGE_RATE_LIMIT = "1000000000"

# Targets (issue 7).
FAST_PAGES_P50_MS = 100  # queue, board, lead page and changelists, at the largest size, SQLite
DASHBOARD_P50_MS = 300
MAX_GROWTH = 1.5
SEED_100K_SECONDS = 120
INTAKE_PER_SECOND = 100

# The list searches' term fills the first page at both sizes (13 % of the patients: Avi, David,
# Ben-David), as the filters do, so that growth compares pages of the same hundred rows.
DEFAULT_SEARCH = "Avi"
# A surname, 3 % of the patients: about 30 rows at 1,000 leads, a full page at 100,000. Measured
# too ("short" pages at the smaller size), but out of the growth target: a third of the rows.
SURNAME_SEARCH = "Katz"

FAST_PAGES = ("queue", "board", "lead")
BASELINE_PAGES = ("stock_referrals", "stock_referrals_deep")


@dataclass(frozen=True)
class PageInfo:
    label: str
    group: str


PAGES = {
    "queue": PageInfo("My queue", "page"),
    "board": PageInfo("Pipeline board", "page"),
    "lead": PageInfo("Lead page", "page"),
    "dashboard": PageInfo("Dashboard (admin index)", "page"),
    # What the refresh task computes (referrals/dashboard.py); no page view waits for it.
    "dashboard_uncached": PageInfo("Dashboard figures recomputed (the refresh task)", "task"),
    "referrals": PageInfo("Referral list", "changelist"),
    "referrals_search": PageInfo("Referral list, search", "changelist"),
    "referrals_filter": PageInfo("Referral list, filter", "changelist"),
    "referrals_deep": PageInfo("Referral list, page 200", "changelist"),
    "referrals_search_surname": PageInfo(
        "Referral list, search for a surname (about 30 rows at 1k)", "changelist_short"
    ),
    "patients": PageInfo("Patient list", "changelist"),
    "patients_search": PageInfo("Patient list, search", "changelist"),
    "patients_search_surname": PageInfo(
        "Patient list, search for a surname (about 30 rows at 1k)", "changelist_short"
    ),
    "patients_filter": PageInfo("Patient list, filter", "changelist"),
    "trials": PageInfo("Trial list", "changelist"),
    "trials_search": PageInfo("Trial list, search", "changelist"),
    "trials_filter": PageInfo("Trial list, filter", "changelist"),
    "export": PageInfo("Referral CSV export, ~1,000 rows", "export"),
    "intake": PageInfo("Intake POST (public form)", "write"),
    "match": PageInfo("match one patient (--json)", "command"),
    "stock_referrals": PageInfo("Baseline: stock admin referral list", "baseline"),
    "stock_referrals_deep": PageInfo("Baseline: stock admin referral list, page 200", "baseline"),
}


def database_url(database: str, size: int, postgres: str) -> str:
    if database == "sqlite":
        return f"sqlite:///{WORK / f'bench-{size}.sqlite3'}"
    return f"{postgres}_{size}"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


# --- the orchestrator ------------------------------------------------------------------------


def _postgres_admin(url: str):
    import psycopg

    parts = urllib.parse.urlsplit(url)
    return psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname="postgres",
        autocommit=True,
    )


def ensure_postgres(url: str) -> None:
    try:
        _postgres_admin(url).close()
        return
    except Exception:
        pass
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        raise SystemExit("PostgreSQL is not reachable and no local cluster was found.")
    print(f"Starting PostgreSQL {versions[-1]}…", flush=True)
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=True
    )
    for _ in range(30):
        try:
            _postgres_admin(url).close()
            return
        except Exception:
            time.sleep(1)
    raise SystemExit("PostgreSQL did not come up.")


def _postgres_name(url: str) -> str:
    return urllib.parse.urlsplit(url).path.lstrip("/")


def database_exists(database: str, url: str) -> bool:
    if database == "sqlite":
        return Path(urllib.parse.urlsplit(url).path).exists()
    with _postgres_admin(url) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [_postgres_name(url)]
        ).fetchone()
    return found is not None


def database_create(database: str, url: str, template: str | None = None) -> None:
    """A fresh empty database (or a copy of `template`'s), dropping any earlier one."""
    if database == "sqlite":
        path = Path(urllib.parse.urlsplit(url).path)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        if template:
            source = Path(urllib.parse.urlsplit(template).path)
            _sqlite_checkpoint(source)
            shutil.copyfile(source, path)
        return
    name = _postgres_name(url)
    with _postgres_admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if template:
            # FILE_COPY copies the files between two checkpoints, inside the command. The
            # default since PostgreSQL 15 (WAL_LOG) writes the whole copy (520 MB at 100,000
            # leads) through the WAL and the buffer cache, and the checkpoint that follows
            # flushed it while the intake was being measured.
            conn.execute(
                f'CREATE DATABASE "{name}" TEMPLATE "{_postgres_name(template)}" STRATEGY FILE_COPY'
            )
        else:
            conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(database: str, url: str) -> None:
    if database == "sqlite":
        path = urllib.parse.urlsplit(url).path
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    with _postgres_admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_postgres_name(url)}" WITH (FORCE)')


def _sqlite_checkpoint(path: Path) -> None:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def worker_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "carecrm.settings",
        "DJANGO_ENV": "development",
        "DATABASE_URL": url,
        "DEBUG": "0",
        "OTP_REQUIRED": "0",
        "INTAKE_RATE_LIMIT": HUGE_RATE_LIMIT,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def run_worker(
    database: str,
    size: int,
    url: str,
    requests: int,
    fresh: bool,
    quiet: tuple[float, int],
    only: list[str],
    search: str,
) -> dict:
    raw = WORK / f"raw-{database}-{size}.json"
    previous = json.loads(raw.read_text()) if raw.exists() and not fresh else {}
    command = [PYTHON, str(BENCH / "run.py"), "worker", "--database", database]
    command += ["--size", str(size), "--requests", str(requests), "--raw", str(raw)]
    command += ["--quiet-load", str(quiet[0]), "--quiet-wait", str(quiet[1])]
    if fresh:
        command.append("--seed")
    if only:
        command += ["--pages", *only]
    command += ["--search", search]
    subprocess.run(command, env=worker_env(url), cwd=ROOT, check=True)
    result = json.loads(raw.read_text())
    if not fresh and previous.get("seed"):
        result["seed"] = previous["seed"]  # reused database: the seed time is the first run's
        raw.write_text(json.dumps(result, indent=2))
    return result


# --- intake throughput on the production stack -------------------------------------------------


INTAKE_FORM = {
    "submitter_role": "patient",
    "first_name": "Load",
    "age": "44",
    "condition": "sle",
    "preferred_language": "he",
    "contact_channel": "phone",
    "consent": "on",
    "treatments-TOTAL_FORMS": "0",
    "treatments-INITIAL_FORMS": "0",
}
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class IntakeClient(threading.Thread):
    """One simulated submitter: fetches the form once, then posts until the deadline."""

    def __init__(self, port: int, number: int, deadline: float) -> None:
        super().__init__(daemon=True)
        self.port, self.number, self.deadline = port, number, deadline
        self.ok = self.errors = 0
        self.latencies: list[float] = []
        self.error_samples: list[str] = []

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", "/check-eligibility/")
            response = conn.getresponse()
            page = response.read().decode()
            cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
            token = CSRF_INPUT.search(page)[1]
        except Exception as error:
            self.errors += 1
            self.error_samples.append(f"form: {error!r}")
            return
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": cookie,
            "Referer": f"http://127.0.0.1:{self.port}/check-eligibility/",
        }
        sequence = 0
        while time.monotonic() < self.deadline:
            sequence += 1
            number = self.number * 1_000_000 + sequence
            body = urllib.parse.urlencode(
                {
                    **INTAKE_FORM,
                    "csrfmiddlewaretoken": token,
                    "last_name": f"Throughput{number}",
                    "phone": f"+97253{number % 10_000_000:07d}",
                }
            )
            started = time.perf_counter()
            try:
                conn.request("POST", "/check-eligibility/", body, headers)
                response = conn.getresponse()
                response.read()
                location = response.getheader("Location", "")
            except Exception as error:
                self.errors += 1
                if len(self.error_samples) < 3:
                    self.error_samples.append(repr(error))
                conn.close()
                continue
            self.latencies.append((time.perf_counter() - started) * 1000)
            if response.status == 302 and "/thanks/" in location:
                self.ok += 1
            else:
                self.errors += 1
                if len(self.error_samples) < 3:
                    self.error_samples.append(f"HTTP {response.status}")
        conn.close()


def intake_throughput(
    database: str, url: str, seconds: int, port: int, clients: int, quiet: tuple[float, int]
) -> dict:
    """Submissions per second through `make serve` (gunicorn, 2 workers) for `seconds`."""
    env = {
        **worker_env(url),
        "OTP_REQUIRED": "0",
        "INTAKE_RATE_LIMIT": HUGE_RATE_LIMIT,
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DEBUG")
    env.pop("DJANGO_ENV")
    log = (WORK / f"serve-{database}.log").open("w")
    server = subprocess.Popen(
        ["make", "serve", f"PORT={port}", "WORKERS=2", "SERVE_DEPS="],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for(port, server)
        load = wait_for_quiet(quiet[0], quiet[1])
        deadline = time.monotonic() + seconds
        threads = [IntakeClient(port, n + 1, deadline) for n in range(clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
    ok = sum(t.ok for t in threads)
    latencies = [value for t in threads for value in t.latencies]
    return {
        "database": database,
        "seconds": round(elapsed, 1),
        "clients": clients,
        "submissions": ok,
        "errors": sum(t.errors for t in threads),
        "error_samples": [s for t in threads for s in t.error_samples][:5],
        "per_second": round(ok / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95), 1) if latencies else None,
        "load_average": [load, round(os.getloadavg()[0], 2)],
    }


def _wait_for(port: int, server: subprocess.Popen) -> None:
    for _ in range(120):
        if server.poll() is not None:
            raise SystemExit(f"make serve exited ({server.returncode}); see bench/work/serve-*.log")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/check-eligibility/")
            if conn.getresponse().status == 200:
                return
        time.sleep(0.5)
    raise SystemExit("make serve did not answer within a minute")


# --- targets, tables ---------------------------------------------------------------------------


def evaluate_targets(runs: list[dict], intake: list[dict]) -> list[dict]:
    targets = []

    def add(name: str, passed: bool, detail: str) -> None:
        targets.append({"target": name, "passed": passed, "detail": detail})

    by_key = {(run["database"], run["size"]): run for run in runs}
    sizes = sorted({run["size"] for run in runs})
    small, large = sizes[0], sizes[-1]
    for database in sorted({run["database"] for run in runs}):
        first, last = by_key.get((database, small)), by_key.get((database, large))
        if not first or not last or small == large:
            continue
        for page, info in PAGES.items():
            if info.group == "baseline" or page not in first["pages"] or page not in last["pages"]:
                continue
            a, b = first["pages"][page], last["pages"][page]
            add(
                f"{database}: {info.label}: same queries at {small:,} and {large:,}",
                a["queries"] == b["queries"],
                f"{a['queries']} vs {b['queries']}",
            )
            if info.group in ("task", "changelist_short"):
                # The growth target is for pages of the same rows at both sizes; the task's
                # time has its own target.
                continue
            growth = b["p50_ms"] / a["p50_ms"]
            add(
                f"{database}: {info.label}: growth {large:,}/{small:,} ≤ {MAX_GROWTH}×",
                growth <= MAX_GROWTH,
                f"{growth:.2f}× ({a['p50_ms']} → {b['p50_ms']} ms)",
            )
    sqlite_large = by_key.get(("sqlite", large))
    if sqlite_large:
        for page, info in PAGES.items():
            if page in sqlite_large["pages"] and (
                page in FAST_PAGES or info.group in ("changelist", "changelist_short")
            ):
                p50 = sqlite_large["pages"][page]["p50_ms"]
                add(
                    f"sqlite {large:,}: {info.label}: p50 ≤ {FAST_PAGES_P50_MS} ms",
                    p50 <= FAST_PAGES_P50_MS,
                    f"{p50} ms",
                )
    for run in runs:
        if run["size"] == large:
            for page in ("dashboard", "dashboard_uncached"):
                if page not in run["pages"]:
                    continue
                p50 = run["pages"][page]["p50_ms"]
                add(
                    f"{run['database']} {large:,}: {PAGES[page].label}: p50 ≤ "
                    f"{DASHBOARD_P50_MS} ms",
                    p50 <= DASHBOARD_P50_MS,
                    f"{p50} ms",
                )
        if run["size"] >= 100_000 and run.get("seed"):
            seconds = run["seed"]["seconds"] * 100_000 / run["size"]
            add(
                f"{run['database']}: seeding 100,000 leads ≤ {SEED_100K_SECONDS} s",
                seconds <= SEED_100K_SECONDS,
                f"{run['seed']['seconds']:.0f} s for {run['size']:,}",
            )
    for result in intake:
        add(
            f"{result['database']} {result['size']:,}: intake ≥ {INTAKE_PER_SECOND} "
            "submissions/s (gunicorn, 2 workers)",
            result["per_second"] >= INTAKE_PER_SECOND and not result["errors"],
            f"{result['per_second']}/s, {result['errors']} errors",
        )
    return targets


def _fmt_size(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def markdown(report: dict) -> str:
    runs, lines = report["runs"], []
    sizes = sorted({run["size"] for run in runs})
    databases = [d for d in ("sqlite", "postgres") if any(r["database"] == d for r in runs)]
    by_key = {(run["database"], run["size"]): run for run in runs}
    lines += [
        "# Benchmark results",
        "",
        f"Generated by `make bench` on {report['generated_at']} ({report['machine']}). "
        f"Server time per request in ms (Django test client, in-process): median and 95th "
        f"percentile over {report['requests']} requests"
        + (
            f" (each the median of {report['rounds']} rounds, run in turn)"
            if report.get("rounds", 1) > 1
            else ""
        )
        + "; SQL queries per request. "
        "Growth = p50 at the largest size / p50 at the smallest. See bench/README.md.",
        "",
    ]
    for database in databases:
        header = ["page"]
        for size in sizes:
            header += [f"{_fmt_size(size)} p50", f"{_fmt_size(size)} p95", f"{_fmt_size(size)} q"]
        if len(sizes) > 1:
            header.append("growth")
        lines += [f"## {database}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
        for page, info in PAGES.items():
            cells = [info.label]
            values = []
            for size in sizes:
                result = by_key.get((database, size), {}).get("pages", {}).get(page)
                if result is None:
                    cells += ["–", "–", "–"]
                    continue
                values.append(result["p50_ms"])
                cells += [f"{result['p50_ms']:.1f}", f"{result['p95_ms']:.1f}"]
                cells.append(str(result["queries"]))
            if len(sizes) > 1:
                cells.append(f"{values[-1] / values[0]:.2f}×" if len(values) == len(sizes) else "–")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        large = by_key.get((database, sizes[-1]))
        compared = ("referrals", "referrals_deep", *BASELINE_PAGES)
        if large and all(page in large["pages"] for page in compared):
            ours = large["pages"]["referrals"]["p50_ms"]
            ours_deep = large["pages"]["referrals_deep"]["p50_ms"]
            stock = large["pages"]["stock_referrals"]["p50_ms"]
            stock_deep = large["pages"]["stock_referrals_deep"]["p50_ms"]
            lines += [
                f"Baseline at {sizes[-1]:,}: our referral list (first page) takes "
                f"{ours / stock_deep:.2f}× the time of the stock admin list on page 200 "
                f"({ours:.1f} vs {stock_deep:.1f} ms) and {ours / stock:.2f}× its first page "
                f"({stock:.1f} ms); on page 200 ours takes {ours_deep / stock_deep:.2f}× "
                f"({ours_deep:.1f} ms).",
                "",
            ]
    lines += [
        "## Seeding, and the machine while measuring",
        "",
        "Load average: the 1-minute load average when the page measurements started and ended "
        "(2 CPUs; anything else running shows up in every timing).",
        "",
        "| database | leads | seed seconds | load average | rows written |",
        "|---|---:|---:|---|---|",
    ]
    for run in runs:
        seed = run.get("seed") or {}
        rows = ", ".join(
            f"{label.split('.')[-1]} {count:,}" for label, count in seed.get("rows", {}).items()
        )
        seconds = f"{seed['seconds']:.1f}" if seed else "–"
        load = " → ".join(str(x) for x in run.get("load_average", []))
        lines.append(f"| {run['database']} | {run['size']:,} | {seconds} | {load} | {rows} |")
    lines.append("")
    if report["intake_throughput"]:
        lines += [
            "## Intake throughput (make serve: gunicorn, 2 workers, production settings)",
            "",
            "| database | leads | clients | seconds | submissions | per second | errors "
            "| p50 ms | p95 ms | load average |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in report["intake_throughput"]:
            lines.append(
                f"| {r['database']} | {r['size']:,} | {r['clients']} | {r['seconds']} "
                f"| {r['submissions']:,} | {r['per_second']} | {r['errors']} | {r['p50_ms']} "
                f"| {r['p95_ms']} | {' → '.join(str(x) for x in r.get('load_average', []))} |"
            )
        lines.append("")
    passed = sum(t["passed"] for t in report["targets"])
    lines += [
        f"## Targets: {passed} of {len(report['targets'])} met",
        "",
        "| | target | measured |",
        "|---|---|---|",
    ]
    for t in report["targets"]:
        lines.append(f"| {'PASS' if t['passed'] else '**FAIL**'} | {t['target']} | {t['detail']} |")
    lines.append("")
    return "\n".join(lines)


def orchestrate(args: argparse.Namespace) -> int:
    WORK.mkdir(exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    if "postgres" in args.databases:
        ensure_postgres(args.postgres_url)
    rounds: dict[tuple[str, int], list[dict]] = {}
    intake_rounds: dict[str, list[dict]] = {}
    started = time.monotonic()
    for round_number in range(1, args.rounds + 1):
        for database in args.databases:
            for size in args.sizes:
                url = database_url(database, size, args.postgres_url)
                fresh = round_number == 1 and not (args.reuse and database_exists(database, url))
                if fresh:
                    database_create(database, url)
                print(
                    f"\n=== {database}, {size:,} leads ({'seed' if fresh else 'reuse'}; "
                    f"round {round_number} of {args.rounds}) ===",
                    flush=True,
                )
                run = run_worker(
                    database,
                    size,
                    url,
                    args.requests,
                    fresh,
                    (args.quiet_load, args.quiet_wait),
                    args.pages,
                    args.search,
                )
                rounds.setdefault((database, size), []).append(run)
            if args.intake_seconds > 0:
                result = _intake_round(database, args)
                intake_rounds.setdefault(database, []).append(result)
    runs = [_median_run(measured) for measured in rounds.values()]
    intake = [_median_intake(measured) for measured in intake_rounds.values()]
    report = {
        "generated_at": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}",
        "requests": args.requests,
        "rounds": args.rounds,
        "runs": runs,
        "intake_throughput": intake,
    }
    report["targets"] = evaluate_targets(runs, intake)
    report["elapsed_seconds"] = round(time.monotonic() - started)
    suffix = "" if sorted(args.sizes) == [1000, 100_000] else "-" + "-".join(map(str, args.sizes))
    if args.pages or args.search != DEFAULT_SEARCH:
        suffix += "-partial"
    (RESULTS / f"bench{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"bench{suffix}.md").write_text(markdown(report))
    print("\n" + markdown(report))
    failed = [t for t in report["targets"] if not t["passed"]]
    print(
        f"{len(report['targets']) - len(failed)} targets met, {len(failed)} missed; "
        f"{report['elapsed_seconds']} s in all. Results: bench/results/bench{suffix}.md"
    )
    return 1 if failed and args.strict else 0


def _intake_round(database: str, args: argparse.Namespace) -> dict:
    size = max(args.sizes)
    source = database_url(database, size, args.postgres_url)
    copy = source.replace(f"bench-{size}", f"bench-{size}-intake")
    if database == "postgres":
        copy = f"{source}_intake"
    database_create(database, copy, template=source)
    print(f"\n=== {database}, {size:,} leads: intake throughput ===", flush=True)
    try:
        result = intake_throughput(
            database,
            copy,
            args.intake_seconds,
            args.port,
            args.intake_clients,
            (args.quiet_load, args.quiet_wait),
        )
    finally:
        database_drop(database, copy)
    result["size"] = size
    print(json.dumps(result), flush=True)
    return result


def _median_run(measured: list[dict]) -> dict:
    """One database and size over several rounds: each page's p50, p95 and SQL time are the
    medians of the rounds' (every round's p50 and query count are kept beside them)."""
    if len(measured) == 1:
        return measured[0]
    run = {
        **measured[0],
        "rounds": len(measured),
        "load_average": [measured[0]["load_average"][0], measured[-1]["load_average"][-1]],
        "pages": {},
    }
    for page, first in measured[0]["pages"].items():
        results = [m["pages"][page] for m in measured]
        run["pages"][page] = {
            **first,
            "p50_ms": round(statistics.median(r["p50_ms"] for r in results), 1),
            "p95_ms": round(statistics.median(r["p95_ms"] for r in results), 1),
            "sql_ms": round(statistics.median(r["sql_ms"] for r in results), 1),
            "queries": max(r["queries"] for r in results),
            "p50_ms_per_round": [r["p50_ms"] for r in results],
            "queries_per_round": [r["queries"] for r in results],
        }
    return run


def _median_intake(measured: list[dict]) -> dict:
    """The round with the median throughput (with every round's throughput beside it)."""
    ordered = sorted(measured, key=lambda r: r["per_second"])
    return {
        **ordered[len(ordered) // 2],
        "per_second_per_round": [r["per_second"] for r in measured],
    }


# --- the worker: one database, one size, inside Django -----------------------------------------


def worker(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(BENCH))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import seed as bench_seed
    from django.core.management import call_command

    import carecrm.wsgi  # noqa: F401  (the process is set up as gunicorn sets up a worker)

    result: dict = {"database": args.database, "size": args.size}
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    result["migrate_seconds"] = round(time.perf_counter() - started, 1)
    call_command("load_reference_data", stdout=io.StringIO())
    if args.seed:
        seconds, rows = bench_seed.seed(args.size)
        result["seed"] = {"seconds": round(seconds, 1), "rows": rows}
        print(f"seeded {args.size:,} leads in {seconds:.1f} s: {rows}", flush=True)
    _analyze()
    result.update(
        measure_pages(
            args.size, args.requests, args.quiet_load, args.quiet_wait, args.pages, args.search
        )
    )
    Path(args.raw).write_text(json.dumps(result, indent=2))


def _analyze() -> None:
    """Fresh planner statistics (and on PostgreSQL a vacuumed visibility map, so index-only
    scans are possible), as autovacuum keeps a production database; then a checkpoint, so the
    pages are not measured while the server writes the seed (or a migration) out to disk."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
            cursor.execute("CHECKPOINT")
        else:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def measure_pages(
    size: int, requests: int, quiet_load: float, quiet_wait: int, only: list[str], search: str
) -> dict:
    import seed as bench_seed
    from django.contrib.auth.models import User
    from django.core.cache import caches
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings
    from django.urls import reverse
    from django.utils import timezone

    from referrals.admin import ReferralAdmin
    from referrals.dashboard import dashboard_refresh
    from referrals.forms import DashboardPeriodForm
    from referrals.models import Referral, Source
    from trials.models import Condition, TrialStatus

    coordinator = User.objects.get(username=bench_seed.COORDINATOR_NAME.format(1))
    admin = User.objects.get(username=bench_seed.ADMIN_NAME)
    lead = Referral.objects.filter(pk__gte=size // 2, assigned_to__isnull=False).order_by("pk")[0]
    patient_id = lead.patient_id
    sle = Condition.objects.get(slug="sle")
    export_filter = _export_filter(size)
    # Page 200, or the last full page of a smaller list (page 20 of 1,000 leads).
    deep = max(1, min(200, Referral.objects.count() // ReferralAdmin.list_per_page))
    # Numbers no earlier run used, so a reused database finds no duplicate of a new lead.
    first = random.Random().randrange(0, 9_000_000)
    counter = iter(range(first, first + 1_000_000))

    def intake_data() -> dict:
        number = next(counter)
        return {
            **INTAKE_FORM,
            "last_name": f"Bench{number}",
            "phone": f"+97253{number:07d}",
        }

    referrals = reverse("admin:referrals_referral_changelist")
    patients = reverse("admin:referrals_patient_changelist")
    trials = reverse("admin:trials_trial_changelist")
    stock = "/bench-stock-admin/referrals/referral/"
    pages = {
        "queue": ("coordinator", "get", reverse("referrals:queue")),
        "board": ("coordinator", "get", reverse("referrals:board")),
        "lead": ("coordinator", "get", reverse("referrals:lead", args=[lead.pk])),
        "dashboard": ("admin", "get", reverse("admin:index")),
        "dashboard_uncached": ("task", "dashboard_refresh", ""),
        "referrals": ("admin", "get", referrals),
        "referrals_search": ("admin", "get", f"{referrals}?q={search}"),
        # A filter that fills the first page at 1,000 leads too (a sixth of the leads), on a
        # column without an index of its own: the count is a scan.
        "referrals_filter": ("admin", "get", f"{referrals}?source__exact={Source.WEB_FORM}"),
        "referrals_deep": ("admin", "get", f"{referrals}?p={deep}"),
        "referrals_search_surname": ("admin", "get", f"{referrals}?q={SURNAME_SEARCH}"),
        "patients": ("admin", "get", patients),
        "patients_search": ("admin", "get", f"{patients}?q={search}"),
        "patients_search_surname": ("admin", "get", f"{patients}?q={SURNAME_SEARCH}"),
        "patients_filter": ("admin", "get", f"{patients}?primary_condition__id__exact={sle.pk}"),
        "trials": ("admin", "get", trials),
        "trials_search": ("admin", "get", f"{trials}?q=CD19"),
        "trials_filter": (
            "admin",
            "get",
            f"{trials}?overall_status__exact={TrialStatus.RECRUITING}",
        ),
        "export": (
            "coordinator",
            "get",
            reverse("admin:referrals_referral_export_csv") + export_filter[0],
        ),
        "intake": ("anonymous", "post", reverse("intake:form")),
        "match": ("command", "match", str(patient_id)),
        "stock_referrals": ("admin", "get", stock),
        "stock_referrals_deep": ("admin", "get", f"{stock}?p={deep}"),
    }
    if only:
        pages = {page: pages[page] for page in only}
    print(
        f"lead #{lead.pk} (patient #{patient_id}); export filter {export_filter[0] or '(none)'} "
        f"→ {export_filter[1]:,} rows; deep page {deep}",
        flush=True,
    )
    clients = {"coordinator": Client(), "admin": Client(), "anonymous": Client()}

    def login() -> None:
        clients["coordinator"].force_login(coordinator)
        clients["admin"].force_login(admin)

    def once(page: str) -> None:
        who, method, target = pages[page]
        if who == "command":
            call_command("match", target, "--json", stdout=io.StringIO())
            return
        if who == "task":
            first_day, last_day = DashboardPeriodForm(None).dates(timezone.localdate())
            dashboard_refresh.call(first_day=first_day.isoformat(), last_day=last_day.isoformat())
            return
        client = clients[who]
        if method == "post":
            response = client.post(target, intake_data())
            expected = 302
        else:
            response = client.get(target)
            expected = 200
        if response.status_code != expected:
            raise SystemExit(f"{page}: HTTP {response.status_code} for {target}")
        if response.streaming:
            b"".join(response.streaming_content)

    results = {}
    # Every run starts from an empty shared cache (a reused database keeps its cache table): the
    # warm-up requests make the dashboard summary and the workload snapshot, and the timed ones
    # read them while fresh, as between two refreshes.
    caches["shared"].clear()
    load_before = wait_for_quiet(quiet_load, quiet_wait)
    with override_settings(ROOT_URLCONF="stock_admin"):
        login()
        for page in pages:
            for _ in range(2):
                once(page)
            timings = []
            for _ in range(requests):
                started = time.perf_counter()
                once(page)
                timings.append((time.perf_counter() - started) * 1000)
            login()  # a fresh session: no idle-timeout write inside the counted request
            with CaptureQueriesContext(connection) as captured:
                once(page)
            queries = captured.captured_queries
            slowest = max(queries, key=lambda q: float(q["time"])) if queries else None
            results[page] = {
                "p50_ms": round(statistics.median(timings), 1),
                "p95_ms": round(percentile(timings, 0.95), 1),
                "queries": len(queries),
                "sql_ms": round(sum(float(q["time"]) for q in queries) * 1000, 1),
                "slowest_query": _explained(slowest) if slowest else None,
            }
            r = results[page]
            print(
                f"{PAGES[page].label:<48} p50 {r['p50_ms']:>8.1f} ms  p95 {r['p95_ms']:>8.1f} ms"
                f"  {r['queries']:>3} queries ({r['sql_ms']:.1f} ms in SQL)",
                flush=True,
            )
    _print_plans(results)
    return {"load_average": [load_before, round(os.getloadavg()[0], 2)], "pages": results}


def wait_for_quiet(threshold: float, seconds: int) -> float:
    """Wait (up to `seconds`) for the 1-minute load average to drop below `threshold`: other
    work on a 2-core machine doubles every timing. Returns the load average when starting."""
    deadline = time.monotonic() + seconds
    load = os.getloadavg()[0]
    if load >= threshold and seconds:
        print(f"load average {load:.2f}; waiting up to {seconds} s for < {threshold}", flush=True)
    while load >= threshold and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()[0]
    print(f"measuring at load average {load:.2f}", flush=True)
    return round(load, 2)


def _export_filter(size: int) -> tuple[str, int]:
    """The referral-list filter whose row count is closest to 1,000 (none at 1,000 leads)."""
    from django.db.models import Count

    from referrals.models import Referral

    total = Referral.objects.count()
    best = ("", total)
    for field in ("priority", "source"):
        rows = (
            Referral.objects.values_list("assigned_to", field)
            .annotate(n=Count("id"))
            .order_by("assigned_to", field)
        )
        for coordinator_id, value, count in rows:
            if coordinator_id and abs(count - 1000) < abs(best[1] - 1000):
                best = (f"?assigned_to__id__exact={coordinator_id}&{field}__exact={value}", count)
    return best


def _explained(query: dict) -> dict:
    from django.db import connection

    sql = query["sql"]
    plan: list[str] = []
    if sql.startswith("DECLARE") and " FOR SELECT " in sql:  # a server-side cursor (iterator())
        sql = sql[sql.index(" FOR SELECT ") + len(" FOR ") :]
    if sql.lstrip().upper().startswith("SELECT"):
        explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
        try:
            with connection.cursor() as cursor:
                cursor.execute(explain + sql)
                plan = [" ".join(str(c) for c in row) for row in cursor.fetchall()]
        except Exception as error:
            plan = [f"(no plan: {error})"]
    return {"ms": round(float(query["time"]) * 1000, 1), "sql": sql[:2000], "plan": plan}


def _print_plans(results: dict, threshold_ms: float = 5.0) -> None:
    slow = sorted(
        (
            (page, r["slowest_query"])
            for page, r in results.items()
            if r["slowest_query"] and r["slowest_query"]["ms"] >= threshold_ms
        ),
        key=lambda item: -item[1]["ms"],
    )
    if not slow:
        print(f"\nNo query took {threshold_ms} ms or more.")
        return
    print(f"\nSlowest query of each page taking ≥ {threshold_ms} ms, with its plan:")
    for page, query in slow:
        sql = " ".join(query["sql"].split())
        print(
            f"\n[{PAGES[page].label}] {query['ms']} ms: {sql[:400]}{'…' if len(sql) > 400 else ''}"
        )
        for line in query["plan"]:
            print(f"    {line}")


# --- command line ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument(
        "--databases", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"]
    )
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse seeded benchmark databases (migrated first)"
    )
    parser.add_argument("--intake-seconds", type=int, default=20, help="0 skips the throughput")
    parser.add_argument("--intake-clients", type=int, default=8)
    parser.add_argument("--port", type=int, default=8310)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--pages", nargs="+", choices=list(PAGES), default=[], help="measure only these pages"
    )
    parser.add_argument("--search", default=DEFAULT_SEARCH, help="the list searches' term")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every database and size this many times, in turn; figures are medians",
    )
    parser.add_argument(
        "--quiet-load",
        type=float,
        default=1.0,
        help="before measuring, wait for the 1-minute load average to drop below this",
    )
    parser.add_argument(
        "--quiet-wait", type=int, default=30, help="…for at most this many seconds (0: never)"
    )
    work = sub.add_parser("worker", help=argparse.SUPPRESS)
    work.add_argument("--database", required=True)
    work.add_argument("--size", type=int, required=True)
    work.add_argument("--requests", type=int, default=20)
    work.add_argument("--raw", required=True)
    work.add_argument("--seed", action="store_true")
    work.add_argument("--quiet-load", type=float, default=1.0)
    work.add_argument("--quiet-wait", type=int, default=0)
    work.add_argument("--pages", nargs="+", default=[])
    work.add_argument("--search", default=DEFAULT_SEARCH)
    args = parser.parse_args()
    if args.command == "worker":
        worker(args)
        return 0
    args.sizes = sorted(set(args.sizes))
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
