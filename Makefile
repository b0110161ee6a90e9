# Apartment domotics pipeline: the commands of the README.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
# Apache Superset lives in its own virtualenv: its dependencies conflict with Airflow's (docs/bi.md).
BI_VENV ?= .venv-bi
BI_STAMP := $(BI_VENV)/.installed

.PHONY: install test test-clock lint demo airflow soak bench clean bi bi-venv bi-check bi-export

install: $(STAMP) $(BI_STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml devtools/pyproject.toml scripts/install-system-packages.sh
	bash scripts/install-system-packages.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(PIP) install -q --no-deps -e . -e devtools
	touch $(STAMP)

# Superset pinned by bi/requirements.txt, frozen by bi/constraints.txt.
bi-venv: $(BI_STAMP)

$(BI_STAMP): bi/requirements.txt bi/constraints.txt
	test -x $(BI_VENV)/bin/python || python3 -m venv $(BI_VENV)
	$(BI_VENV)/bin/pip install -q --upgrade pip
	$(BI_VENV)/bin/pip install -q -r bi/requirements.txt -c bi/constraints.txt
	touch $(BI_STAMP)

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
	$(PY) -m domotic_dev.bench $(BENCH_ARGS)

# Superset on http://127.0.0.1:8088 with the dashboards of bi/assets on a demo warehouse (docs/bi.md).
bi: install
	$(PY) -m domotic_dev.bi

# Write what Superset holds (e.g. a chart edited in the UI) back into bi/assets.
bi-export: install
	$(PY) -m domotic_dev.bi export

# The BI checks that need Superset: real-browser check of every dashboard as admin and as an owner
# (screenshots in docs/bi/), and the round trip of bi/assets (import, export, compare). CI runs it after make test.
bi-check: install
	$(PY) -m pytest -q -m bi tests/bi

clean:
	rm -rf .services var
