# Two commands: `make run` (the embedded stack with a sample run) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench docs install clean-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Stamps make a second `make run` install nothing; they are redone when pyproject.toml changes.
# The server: the `swath` distribution with its `server` extra, and server/ (api, workers, workflows,
# activities). `pip install .` alone is the client and the `swath` command's client commands.
$(VENV)/.installed-run: pyproject.toml server/pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[server]' -e ./server
	touch $@

$(VENV)/.installed-test: pyproject.toml server/pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[server,test]' -e ./server
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/swath up --demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

clean-data:
	rm -rf data

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

# The documentation site into site/ (open site/index.html); `.venv/bin/mkdocs serve` serves it live.
docs: $(VENV)/.installed-test
	$(BIN)/mkdocs build --strict
