# brainlearn: `make demo` and `make test` each create .venv if missing and install into it.
#
# Torch: by default we ask pip for TORCH=torch==2.13.0. Where a CPU wheel of it is on local disk
# (pip's find-links), that wheel is taken in seconds. Elsewhere pip pulls the PyPI build, which on
# Linux is the CUDA one; for a CPU-only machine use
#   make test TORCH_INDEX=--index-url=https://download.pytorch.org/whl/cpu
# and for a specific CUDA build install torch into .venv first (see README), then run make.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DOCS_STAMP := $(VENV)/.installed-docs
RELEASE_STAMP := $(VENV)/.installed-release

.PHONY: install install-test demo test verify-quick test-slow lint figures docs dist clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

# The test suite also exercises the optional Ray and Slurm (submitit) backends of sweeps, schedule-free AdamW
# (pathways), the results tables (pandas, pyarrow) and their TensorBoard export, the gymnasium environments,
# the NWB files (pynwb) and the replay buffers' compiled kernels (numba, checked bit for bit against numpy).
$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[dev,ray,pathways,tables,tensorboard,slurm,gym,nwb,numba]"
	touch $(TEST_STAMP)

install: $(STAMP)

install-test: $(TEST_STAMP)

demo: $(STAMP)
	$(BIN)/brainlearn verify fa-vs-bp --quick --quiet

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -m "not slow"

# Every experiment's quick preset, seed 0, judged like `brainlearn verify`: a gated claim that fails, or a known
# non-reproduction that passes (its docs would be stale), fails the target. Run dirs go to a temporary folder.
VERIFY_OUT ?= $(shell mktemp -d)
verify-quick: $(TEST_STAMP)
	$(BIN)/brainlearn verify --quick --strict --quiet --out $(VERIFY_OUT)

# The slow checks: every experiment killed and resumed, the fuzzers with many more examples.
test-slow: $(TEST_STAMP)
	$(BIN)/python -m pytest -m slow
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest tests/test_fuzz.py

# Each experiment's quick-preset figures (seed 0) into docs/figures/<experiment>/, for the docs pages
# (about 5 minutes of CPU). `make figures NAMES="fa-vs-bp dendritic"` redraws only those.
NAMES ?=
figures: $(STAMP)
	$(BIN)/python -m brainlearn.experiments.figures --out docs/figures $(NAMES)

# ruff, then mypy over src/brainlearn (configured in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

$(DOCS_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[dev,docs]"
	touch $(DOCS_STAMP)

$(RELEASE_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[dev,release]"
	touch $(RELEASE_STAMP)

# The documentation site in site/ (API pages from the docstrings); any warning fails the build. Then the site's
# maths is checked in headless Chromium (skipped, saying so, where there is no chromium).
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
	$(BIN)/python -m pytest tests/test_docs_maths.py -rs

# The wheel and sdist in dist/, checked by twine, then the wheel installed into a fresh venv and run.
dist: $(RELEASE_STAMP)
	rm -rf dist build
	$(BIN)/python -m build --quiet --outdir dist .
	$(BIN)/twine check --strict dist/*
	PYTHON="$(PYTHON)" TORCH="$(TORCH)" TORCH_INDEX="$(TORCH_INDEX)" .ci/wheel-smoke

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache site dist build
