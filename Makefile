# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
# Where the embedded database, broker, cache and metrics live (the settings read it too).
VAR_DIR ?= $(CURDIR)/var

.PHONY: run test lint fmt bench migrations-check install install-dev

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Web, worker and beat are separate processes: their counters meet in this directory.
# honcho exits 130 after Ctrl-C even when every process stopped cleanly; that is the
# normal end of `make run`, not an error to report.
run: export PROMETHEUS_MULTIPROC_DIR := $(VAR_DIR)/prometheus
run: export PYTHONUNBUFFERED := 1
run: install
	@rm -rf $(PROMETHEUS_MULTIPROC_DIR) && mkdir -p $(PROMETHEUS_MULTIPROC_DIR)
	$(PY) manage.py migrate --no-input -v0
	$(PY) manage.py collectstatic --no-input -v0
	$(PY) manage.py create_demo_admin
	$(PY) manage.py create_demo_triggers
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start -f Procfile || test $$? -eq 130

test: install-dev
	$(PY) -m tests.services -- $(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: install
	$(PY) manage.py makemigrations --check --dry-run

bench: install-dev
	$(PY) -m tests.services -- $(PY) -m bench
