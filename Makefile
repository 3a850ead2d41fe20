# The commands the README gives. Each one creates or updates .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with workbench/nbval_sanitize.cfg

.PHONY: env demo test lint lab bench dashboard clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

env: $(STAMP)

# the example production job, end to end on the embedded store (.workbench/): the training job,
# the acceptance gates, promotion to production, one prediction from `workbench serve`, the dashboard's command
demo: $(STAMP)
	$(BIN)/workbench demo notebooks/train.ipynb -p model forest -p n_estimators 200
	$(BIN)/workbench models cancer-classifier

lint: $(STAMP)
	$(BIN)/ruff check workbench tests bench
	$(BIN)/mypy

# three workers on two cores: many tests wait on kernels, servers and browsers; --dist loadfile
# keeps each file, and so each notebook's cells, on one worker; the long notebooks start first.
# One BLAS/OpenMP thread per process: with workers, kernels and servers already sharing the
# cores, threads that spin waiting for each other made the busiest tests several times slower
test: lint
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 WORKBENCH_HOME="$$(mktemp -d)" \
		$(BIN)/python -m pytest -n 3 --dist loadfile notebooks tests $(NBVAL)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)
	$(BIN)/python bench/timing.py

# rebuilds the dashboard's front end into workbench/dashboard/static/ (committed: users never run npm)
dashboard:
	cd extensions/dashboard && npm ci && npm run build

clean:
	rm -rf $(VENV) .workbench .pytest_cache .mypy_cache .ruff_cache

# rebuilds the JupyterLab extension into workbench/jupyter/labextension/ (committed: users never run npm)
.PHONY: labextension
labextension: $(STAMP)
	cd extensions/jupyterlab && npm ci && PYTHON=$(CURDIR)/$(BIN)/python npm run build
	$(BIN)/python -m pip install --quiet --no-deps -e .  # the editable install copies the build into .venv/share
