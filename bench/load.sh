#!/usr/bin/env bash
# 50 simulated users for 60 s against the production stack on loopback; prints req/s, p95, errors.
# Usage: bench/load.sh [users] [seconds]   (DATABASE_URL picks the database, default SQLite)
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-50}
seconds=${2:-60}
port=8200
out=bench/results/load
mkdir -p bench/results

# The load-test database is separate from the development one and seeded like `make run`.
export DATABASE_URL=${DATABASE_URL:-sqlite:///$PWD/bench/work/load.sqlite3}
mkdir -p bench/work
# Two-factor sign-in cannot be typed by a script; the rate limit would refuse a crowd from
# one address. Both stay on in real deployments.
export OTP_REQUIRED=0 INTAKE_RATE_LIMIT=1000000

make db >/dev/null
.venv/bin/pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[bench]"
make serve PORT=$port WORKERS=2 >bench/work/serve.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; pkill -f "gunicorn carecrm.wsgi -w 2 -b 127.0.0.1:$port" 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/check-eligibility/" && break
  sleep 1
done

.venv/bin/locust -f bench/locustfile.py --headless -u "$users" -r 10 -t "${seconds}s" \
  --host "http://127.0.0.1:$port" --csv "$out" --only-summary >bench/work/locust.log 2>&1 || true

.venv/bin/python - "$out" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1] + "_stats.csv")))
print(f"{'request':<16}{'count':>8}{'fail':>6}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}")
for r in rows:
    print(f"{r['Name']:<16}{r['Request Count']:>8}{r['Failure Count']:>6}"
          f"{float(r['Requests/s']):>8.1f}{r['50%']:>8}{r['95%']:>8}")
PY
