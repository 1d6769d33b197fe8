# Set-up, training and tests. Each target creates .venv and installs the
# package with its test, JAX, PyTorch and export extras first.
#   make train [DATA=path/to/pokemon.zip] [RECIPE=dcgan-paper] [EPOCHS=25] [BACKEND=tensorflow]
#   make test
PYTHON ?= python3
VENV ?= .venv
# A CPU build of PyTorch; set TORCH=torch for your platform's default build.
TORCH ?= torch==2.13.0
BACKENDS ?= tensorflow jax torch
PYTEST_ARGS ?=
# Test processes per backend (pytest-xdist); 0 runs the suite in this process.
JOBS ?= 2
DATA ?=
EPOCHS ?=
BACKEND ?= tensorflow
RECIPE ?= dcgan-paper

.PHONY: install test train

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q "$(TORCH)"
	$(VENV)/bin/python -m pip install -q -e ".[test,jax,torch,export]"
	touch $@

test: install
	@status=0; for backend in $(BACKENDS); do \
	  echo "== KERAS_BACKEND=$$backend"; \
	  KERAS_BACKEND=$$backend TF_CPP_MIN_LOG_LEVEL=3 \
	    $(VENV)/bin/python -m pytest -n $(JOBS) --dist worksteal $(PYTEST_ARGS) || status=1; \
	done; exit $$status

train: install
	$(VENV)/bin/keras-dcgan train --backend $(BACKEND) --dataset pokemon \
	  --recipe $(RECIPE) $(if $(DATA),--data "$(DATA)") $(if $(EPOCHS),--epochs $(EPOCHS))
