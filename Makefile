# Every target works on a fresh clone: `install` is a sentinel-guarded prerequisite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8787
DATA ?= ./data

.PHONY: install run test lint fmt bench clean

install: $(STAMP)

$(STAMP): setup.cfg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	touch $(STAMP)

run: install
	$(VENV)/bin/lockgate serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) build *.egg-info bench/out
