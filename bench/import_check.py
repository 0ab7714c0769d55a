"""How long the referral import takes in the task worker: 1,000 and 20,000 rows.

    .venv/bin/python bench/import_check.py [--rows 1000 20000] [--leads 100000]
                                           [--databases sqlite postgres] [--reuse]

For each database it seeds a benchmark database with `--leads` leads (bench/seed.py, as `make
bench` does), then for each file size uploads a CSV of that many rows, one in twenty with the
phone of a patient already there (so the duplicate look-ups find something), and times, in a
process configured like the worker (`DEBUG=0`), the two tasks as the worker runs them: the
check (`import_job_validate`: read, validate, look up duplicates, store rows and progress) and
the confirmed import (`import_job_run`: check again, then write every row in one transaction,
of which the leads' write, `services.referral_import`, is timed on its own: on SQLite, how long
the import holds the database's write lock).
Not a test and no targets: the figures go to bench/results/import-check.md and .json (see
bench/README.md, "The referral import").
"""

import argparse
import io
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import run as bench_run  # noqa: E402  (bench/run.py: database helpers, the worker environment)

RESULTS = BENCH / "results"
PYTHON = sys.executable


def orchestrate(args: argparse.Namespace) -> int:
    bench_run.WORK.mkdir(exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    if "postgres" in args.databases:
        bench_run.ensure_postgres(args.postgres_url)
    runs = []
    for database in args.databases:
        url = bench_run.database_url(database, args.leads, args.postgres_url).replace(
            f"bench-{args.leads}", f"import-{args.leads}"
        )
        if database == "postgres":
            url = f"{args.postgres_url}_import_{args.leads}"
        fresh = not (args.reuse and bench_run.database_exists(database, url))
        if fresh:
            bench_run.database_create(database, url)
        raw = bench_run.WORK / f"import-{database}.json"
        command = [PYTHON, __file__, "measure", "--database", database, "--raw", str(raw)]
        command += ["--leads", str(args.leads), "--rows", *map(str, args.rows)]
        if fresh:
            command.append("--seed")
        print(f"\n=== {database}, {args.leads:,} leads ===", flush=True)
        subprocess.run(command, env=bench_run.worker_env(url), cwd=ROOT, check=True)
        runs.append(json.loads(raw.read_text()))
    report = {
        "generated_at": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}",
        "runs": runs,
    }
    (RESULTS / "import-check.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "import-check.md").write_text(markdown(report))
    print("\n" + markdown(report))
    return 0


def measure(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import seed as bench_seed
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from referrals import imports, services
    from referrals.models import Patient
    from referrals.resources import COLUMNS

    call_command("migrate", verbosity=0)
    if args.seed:
        call_command("load_reference_data", stdout=io.StringIO())
        seconds, _ = bench_seed.seed(args.leads)
        print(f"seeded {args.leads:,} leads in {seconds:.1f} s", flush=True)
    bench_run._analyze()
    user = User.objects.get(username=bench_seed.COORDINATOR_NAME.format(1))
    known = list(Patient.objects.exclude(phone="").values_list("phone", flat=True)[:1000])
    rng = random.Random(20261207)
    # The leads' write, timed inside the import's transaction (on SQLite, the write lock).
    write = services.referral_import
    written = []

    def timed_write(**kwargs):
        started = time.perf_counter()
        try:
            return write(**kwargs)
        finally:
            written.append(time.perf_counter() - started)

    services.referral_import = timed_write
    result = {"database": args.database, "leads": args.leads, "files": []}
    for rows in args.rows:
        content = _csv(COLUMNS, rows, known, rng)
        load_before = os.getloadavg()[0]
        job = imports.import_job_create(by=user, file_name=f"{rows}.csv", content=content)
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            imports.import_job_validate.call(job_id=job.pk)
            check_seconds = time.perf_counter() - started
        job.refresh_from_db()
        assert job.state == "validated" and not job.rows_with_problems, job.rows.filter(
            has_problems=True
        ).first()
        imports.import_job_confirm(job=job, by=user, ip_address=None)
        started = time.perf_counter()
        imports.import_job_run.call(job_id=job.pk)
        import_seconds = time.perf_counter() - started
        job.refresh_from_db()
        assert job.state == "done", job.problem
        figures = {
            "rows": rows,
            "bytes": len(content),
            "check_seconds": round(check_seconds, 2),
            "check_rows_per_second": round(rows / check_seconds),
            "check_queries": len(queries),
            "flagged": job.rows_flagged,
            "import_seconds": round(import_seconds, 2),
            "write_seconds": round(written[-1], 2),
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        print(json.dumps(figures), flush=True)
        result["files"].append(figures)
    Path(args.raw).write_text(json.dumps(result, indent=2))


def _csv(columns, rows: int, known_phones: list[str], rng: random.Random) -> bytes:
    """`rows` valid leads; every twentieth has the phone of a patient already in CareCRM."""
    out = io.StringIO()
    out.write(",".join(columns) + "\n")
    sources = ["phone", "Referring physician", "hospital", "E-mail"]
    for n in range(rows):
        phone = known_phones[n % len(known_phones)] if n % 20 == 0 else f"+97252{n:07d}"
        born = f"{rng.randint(1940, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        out.write(
            f"Import{n},Family{n % 997},{born},{phone},import{n}@example.org,sle,"
            f"{sources[n % len(sources)]},Dr. Referrer {n % 50},\n"
        )
    return out.getvalue().encode()


def markdown(report: dict) -> str:
    lines = [
        "# The referral import in the task worker",
        "",
        f"{report['generated_at']} · {report['machine']} · `bench/import_check.py`",
        "",
        "| database | leads already there | rows | file | check (validation) | rows/s | "
        "queries | flagged | import task | of which the write | load average |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        for f in run["files"]:
            lines.append(
                f"| {run['database']} | {run['leads']:,} | {f['rows']:,} | "
                f"{f['bytes'] / 1024 / 1024:.1f} MB | {f['check_seconds']} s | "
                f"{f['check_rows_per_second']:,} | {f['check_queries']} | {f['flagged']:,} | "
                f"{f['import_seconds']} s | {f['write_seconds']} s | "
                f"{f['load_average'][0]} → {f['load_average'][1]} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 20_000])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument(
        "--databases", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"]
    )
    parser.add_argument("--postgres-url", default=bench_run.DEFAULT_POSTGRES)
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("measure", help=argparse.SUPPRESS)
    child.add_argument("--database", required=True)
    child.add_argument("--raw", required=True)
    child.add_argument("--leads", type=int, required=True)
    child.add_argument("--rows", type=int, nargs="+", required=True)
    child.add_argument("--seed", action="store_true")
    args = parser.parse_args()
    if args.command == "measure":
        measure(args)
        return 0
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
