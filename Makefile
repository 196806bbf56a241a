# lsfix — the two commands the README promises: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.install-stamp
DATA   ?= data
FORCE  ?= 0
# nbdev_test runs notebooks in parallel (one per core): one BLAS/torch thread each.
TEST_THREADS ?= 1
FMNIST_DEB := /usr/share/datasets/fashion-mnist
# `make notebooks`: the notebooks committed with their outputs (narrative, then experiments), one after the other.
# The library notebooks (00, 10-14, 17) are committed without outputs. NOTEBOOKS=nbs/01_theory.ipynb runs one.
NOTEBOOKS ?= $(addprefix nbs/,01_theory.ipynb 02_selective.ipynb 03_logitnorm.ipynb 04_calibration.ipynb 05_plots.ipynb \
  06_deploy.ipynb 07_mechanisms.ipynb 15_segmentation.ipynb 16_demo.ipynb 20_fmnist_selective.ipynb 21_cifar.ipynb \
  22_segmentation_selective.ipynb 23_fmnist_architectures.ipynb 24_mixup_selective.ipynb 30_ls_accuracy_calibration.ipynb 31_ls_representations.ipynb 32_ls_distillation.ipynb)
NB_THREADS ?= 2
SLOW ?= 0

.PHONY: help install data test nbtest pytest check-sync readme notebooks bench demo clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): settings.ini setup.py constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (lsfix needs Python 3.11; set PYTHON=...)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "error: could not create $(VENV)" >&2; exit 1; }
	@echo "installing lsfix and its pinned dependencies into $(VENV) (a few minutes the first time)"
	$(BIN)/python -m pip install --quiet --upgrade pip || { echo "error: pip upgrade failed" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]" || { echo "error: pip install failed (see above)" >&2; exit 1; }
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install lsfix with pinned dependencies (idempotent)

data: $(STAMP)  ## obtain Fashion-MNIST (Debian package, else torchvision download) into data/
	@if [ ! -d $(FMNIST_DEB) ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian package dataset-fashion-mnist"; \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) || echo "warning: apt-get failed; falling back to torchvision's download" >&2; \
	fi
	$(BIN)/python -m lsfix.data --root $(DATA)

check-sync: $(STAMP)  ## fail if nbdev_export, make readme or nbdev_clean would change the working tree (committed or not)
	$(BIN)/python scripts/sync.py check

nbtest: $(STAMP) data  ## run every notebook with nbdev_test (slow/gpu cells skipped)
	OMP_NUM_THREADS=$(TEST_THREADS) MKL_NUM_THREADS=$(TEST_THREADS) MPLBACKEND=Agg $(BIN)/nbdev_test --do_print

pytest: $(STAMP) data  ## run the pytest suite (install, CLI, DDP, kill+resume, properties)
	OMP_NUM_THREADS=$(TEST_THREADS) MKL_NUM_THREADS=$(TEST_THREADS) MPLBACKEND=Agg $(BIN)/python -m pytest -q tests

test: check-sync nbtest pytest  ## install, sync check, nbdev_test, pytest

readme: $(STAMP)  ## regenerate README.md from nbs/index.ipynb (nbconvert; nbdev_readme needs Quarto)
	$(BIN)/python scripts/sync.py readme

notebooks: $(STAMP) data  ## execute the narrative and experiment notebooks in place, keeping outputs (slow cells skipped; SLOW=1 runs them)
	OMP_NUM_THREADS=$(NB_THREADS) MKL_NUM_THREADS=$(NB_THREADS) TQDM_DISABLE=1 MPLBACKEND=Agg \
	  $(BIN)/python scripts/run_notebooks.py $(if $(filter 1,$(SLOW)),--slow) $(NOTEBOOKS)

bench: $(STAMP) data  ## run the benchmarks; writes bench/results.md and bench/results.json
	$(BIN)/python bench/run.py --out bench

demo: $(STAMP) data  ## train CE and LS models on Fashion-MNIST and write runs/demo/report/report.md
	$(BIN)/python scripts/demo.py --data $(DATA) --out runs/demo --force $(FORCE)

clean:  ## remove the venv, runs and caches (keeps data/)
	rm -rf $(VENV) runs .pytest_cache .hypothesis *.egg-info
