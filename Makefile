# Apartment domotics pipeline: the commands of the README.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install test test-clock lint demo airflow soak bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml devtools/pyproject.toml scripts/install-system-packages.sh
	bash scripts/install-system-packages.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(PIP) install -q --no-deps -e . -e devtools
	touch $(STAMP)

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q
	PY=$(PY) bash scripts/test-clock.sh

# The fast suites with the machine's clock moved (libfaketime): nothing may depend on today's date.
test-clock: install
	PY=$(PY) bash scripts/test-clock.sh

lint: install
	$(VENV)/bin/ruff check .

demo: install
	$(PY) -m domotic_dev.demo

airflow: install
	$(PY) -m domotic_dev.airflow_local $(AIRFLOW_ARGS)

# The whole local system for SOAK_MINUTES of live sensor files; retries, failures, alerts and latency go to
# docs/benchmarks.md. CI: make soak SOAK_MINUTES=5 SOAK_ARGS=--strict (fails on any retry, failure or alert).
SOAK_MINUTES ?= 30
soak: install
	$(PY) -m domotic_dev.soak --minutes $(SOAK_MINUTES) $(SOAK_ARGS)

bench: install
	$(PY) -m domotic_dev.bench

clean:
	rm -rf .services var
