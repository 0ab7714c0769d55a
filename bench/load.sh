#!/usr/bin/env bash
# 50 simulated users for 60 s against the production stack on loopback; prints req/s, p95, errors.
# Usage: bench/load.sh [users] [seconds]   (DATABASE_URL picks the database, default SQLite)
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-50}
seconds=${2:-60}
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
# A port nobody listens on, from the OS, so two runs (or another server) never collide.
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The server runs in a process group of its own (job control on for this one job): make, the
# gunicorn master and its workers. Only that group is stopped at the end, by its id, never by
# a process name, which could match another run's or another project's gunicorn.
set -m
make serve PORT="$port" WORKERS=2 </dev/null >bench/work/serve.log 2>&1 &
server=$!
set +m
stop_server() {
  kill -TERM -- "-$server" 2>/dev/null || return 0
  for _ in $(seq 1 30); do  # gunicorn lets its workers finish their requests
    kill -0 -- "-$server" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -KILL -- "-$server" 2>/dev/null || true
}
trap stop_server EXIT
ready=0
for _ in $(seq 1 60); do
  if curl -sf -o /dev/null "http://127.0.0.1:$port/check-eligibility/"; then ready=1; break; fi
  kill -0 "$server" 2>/dev/null || break  # make (and so gunicorn) already exited
  sleep 1
done
if [ "$ready" != 1 ]; then
  echo "The server did not answer on port $port; see bench/work/serve.log." >&2
  exit 1
fi

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
