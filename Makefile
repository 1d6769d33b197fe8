# Set-up and tests. `make test` creates .venv, installs the package with its
# test extras and runs the suite once per Keras backend.
PYTHON ?= python3
VENV ?= .venv
# A CPU build of PyTorch; set TORCH=torch for your platform's default build.
TORCH ?= torch==2.13.0
BACKENDS ?= tensorflow jax torch
PYTEST_ARGS ?=

.PHONY: install test

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q "$(TORCH)"
	$(VENV)/bin/python -m pip install -q -e ".[test,jax,torch]"
	touch $@

test: install
	@status=0; for backend in $(BACKENDS); do \
	  echo "== KERAS_BACKEND=$$backend"; \
	  KERAS_BACKEND=$$backend TF_CPP_MIN_LOG_LEVEL=3 \
	    $(VENV)/bin/python -m pytest $(PYTEST_ARGS) || status=1; \
	done; exit $$status
