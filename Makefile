SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help install db run worker test lint format serve bench clean

help:
	@echo "make run    - install, migrate, load reference + demo data, serve on http://$(HOST):$(PORT)"
	@echo "make test   - install everything and run the whole test suite"
	@echo "make lint   - ruff check + format check + migrations check"
	@echo "make serve  - production settings under gunicorn + whitenoise on http://$(HOST):$(PORT)"
	@echo "make bench  - seed 1k and 100k leads on SQLite and PostgreSQL, time every staff page"

$(STAMP): pyproject.toml requirements.lock
	@python_bin=$$(bin/find-python) && \
	  { [ -x $(PY) ] || "$$python_bin" -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

db: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_reference_data
	$(PY) manage.py seed_demo

run: db
	@$(PY) manage.py print_demo_logins
	@echo "Serving on http://$(HOST):$(PORT)/ (background task worker started too)"
	@$(PY) manage.py db_worker & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(PY) manage.py runserver $(HOST):$(PORT)

# Production settings under gunicorn + whitenoise on loopback, for trying and measuring the
# production stack locally. Real deployments set SECRET_KEY, ALLOWED_HOSTS and keep TLS on.
SERVE_ENV := DJANGO_ENV=production \
	SECRET_KEY=$${SECRET_KEY:-local-serve-only-$$(whoami)-not-for-deployment-0123456789abcdef} \
	ALLOWED_HOSTS=$${ALLOWED_HOSTS:-127.0.0.1,localhost} \
	SECURE_SSL_REDIRECT=$${SECURE_SSL_REDIRECT:-0} SECURE_COOKIES=$${SECURE_COOKIES:-0} \
	OTP_REQUIRED=$${OTP_REQUIRED:-1}
WORKERS ?= 2
# The benchmark serves its own, already migrated database: `make serve SERVE_DEPS=` skips `db`.
SERVE_DEPS ?= db

serve: $(SERVE_DEPS)
	$(SERVE_ENV) $(PY) manage.py collectstatic --noinput -v0
	$(SERVE_ENV) $(VENV)/bin/gunicorn carecrm.wsgi -w $(WORKERS) -b $(HOST):$(PORT) --access-logfile -

# Every staff page timed at 1k and 100k leads on SQLite and PostgreSQL (bench/README.md);
# e.g. `make bench BENCH_ARGS="--sizes 1000 --databases sqlite"` for a quick run.
BENCH_ARGS ?=
bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

worker: install
	$(PY) manage.py db_worker

test: install
	@bin/ensure-system-libs
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles
