# smsportal — `make run` serves the portal, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# `make bench` prints benchmark figures and writes var/bench/results.json; `make bench QUICK=1` is a small run.
QUICK ?=
# PORT and DATA_DIR (default 8000 and ./var) are read by smsportal/serve.py from the environment or .env.

.PHONY: install run test static clean bench

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit("smsportal needs Python 3.11+") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

static/vendor/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
	cp node_modules/chart.js/dist/chart.umd.min.js static/vendor/chart.umd.min.js
	touch $@

install: $(VENV)/.installed static/vendor/.installed

static: static/vendor/.installed

run: install
	$(PY) -m smsportal.serve

test: install
	$(PY) -m pytest

bench: install
	$(PY) -m tests.bench $(if $(filter-out 0,$(QUICK)),--quick,)

clean:
	rm -rf $(VENV) node_modules static/vendor
