SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help install db run worker test test-fast lint format check serve clean

help:
	@echo "make run    - install, migrate, load reference + demo data, serve on http://$(HOST):$(PORT)"
	@echo "make test   - install everything and run the whole test suite"
	@echo "make lint   - ruff check + format check + migrations check"

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

worker: install
	$(PY) manage.py db_worker

test: install
	@bin/ensure-chromium
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
