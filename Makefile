# Two entry points (see README): `make serve` and `make test`. Both build .venv from scratch
# when it is missing or pyproject.toml changed. `make test` first runs `make deps`: the Debian
# packages (chromium, ...) and the Redis and PostgreSQL servers the tests use
# (scripts/system-deps.sh; instant when all is there), and the npm packages the documents'
# JavaScript examples need (tests/docs/js: `npm ci` from the committed lock, only when the lock
# changed since the last install).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JS := tests/docs/js
JS_STAMP := $(JS)/node_modules/.installed

.PHONY: serve test typecheck deps js-deps install bench calibrate clean
# Prerequisites in order, even under -j: deps (python3.11-venv, ...) before the venv.
.NOTPARALLEL:

$(STAMP): pyproject.toml requirements-nodeps.txt clients/python/pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,research]'
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install -q -e ./clients/python  # the Python client SDK (tests/test_python_sdk.py)
	@# insightface declares opencv-python; it must never be installed beside the headless build.
	@! $(BIN)/pip list 2>/dev/null | grep -qE '^opencv-python ' || (echo "opencv-python got installed" && exit 1)
	touch $(STAMP)

install: $(STAMP)

deps:
	@bash scripts/system-deps.sh

# React, react-dom, esbuild, axios, Express at the versions of package-lock.json. --ignore-scripts:
# none of them needs an install script (esbuild's binary is its @esbuild/<platform> package).
$(JS_STAMP): $(JS)/package.json $(JS)/package-lock.json
	cd $(JS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

js-deps: $(JS_STAMP)

serve: $(STAMP)
	mkdir -p var
	$(BIN)/facestream serve

# mypy first ([tool.mypy] in pyproject.toml: which packages, how strictly): seconds, and a type
# error fails before the suite's minutes.
typecheck: $(STAMP)
	$(BIN)/python -m mypy

test: deps $(STAMP) $(JS_STAMP) typecheck
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py

calibrate: $(STAMP)
	$(BIN)/python bench/calibrate.py

clean:
	rm -rf $(VENV) var $(JS)/node_modules
