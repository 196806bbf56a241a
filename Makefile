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

.PHONY: help install data test nbtest pytest check-sync readme bench demo clean

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

check-sync: $(STAMP)  ## fail if nbdev_export, make readme or nbdev_clean would change tracked files
	$(BIN)/nbdev_export
	$(MAKE) --no-print-directory readme
	$(BIN)/nbdev_clean
	@changed="$$(git status --porcelain lsfix README.md 'nbs/*.ipynb')"; \
	if [ -n "$$changed" ]; then echo "error: notebooks, lsfix/ and README.md are out of sync (run nbdev_export, make readme, nbdev_clean and commit):" >&2; echo "$$changed" >&2; git --no-pager diff --stat >&2; exit 1; fi
	@echo "sync check: nbs/, lsfix/ and README.md agree"

nbtest: $(STAMP) data  ## run every notebook with nbdev_test (slow/gpu cells skipped)
	OMP_NUM_THREADS=$(TEST_THREADS) MKL_NUM_THREADS=$(TEST_THREADS) MPLBACKEND=Agg $(BIN)/nbdev_test --do_print

pytest: $(STAMP) data  ## run the pytest suite (install, CLI, DDP, kill+resume, properties)
	OMP_NUM_THREADS=$(TEST_THREADS) MKL_NUM_THREADS=$(TEST_THREADS) MPLBACKEND=Agg $(BIN)/python -m pytest -q tests

test: check-sync nbtest pytest  ## install, sync check, nbdev_test, pytest

readme: $(STAMP)  ## regenerate README.md from nbs/index.ipynb (nbconvert; nbdev_readme needs Quarto)
	$(BIN)/jupyter nbconvert --log-level=WARN --to markdown nbs/index.ipynb --output-dir . --output README
	@sed -i -e 's/[[:space:]]*$$//' README.md

bench: $(STAMP) data  ## run the benchmarks; writes bench/results.md and bench/results.json
	$(BIN)/python bench/run.py --out bench

demo: $(STAMP) data  ## train CE and LS models on Fashion-MNIST and write runs/demo/report/report.md
	$(BIN)/python scripts/demo.py --data $(DATA) --out runs/demo --force $(FORCE)

clean:  ## remove the venv, runs and caches (keeps data/)
	rm -rf $(VENV) runs .pytest_cache .hypothesis *.egg-info
