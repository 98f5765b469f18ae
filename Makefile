# `make test` and `make reproduce-table1` set up everything they need: a .venv with the package
# and its dependencies, and Fashion-MNIST from Debian's dataset-fashion-mnist.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PRESET ?= laptop
RESULTS ?= results/$(PRESET)
# Table 3's training examples: K and its Cholesky factor take 16 n^2 bytes in float64 (0: all).
TABLE3_N ?= 10000
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: test lint format data reproduce-table1 reproduce-figure1 reproduce-figure2 reproduce-table4 reproduce-theorem1 reproduce-table3 reproduce-rademacher rademacher benchmark clean-venv

$(VENV)/stamp: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

data:
	@if [ -e $(FASHION_MNIST) ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then \
	  sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist; \
	else \
	  echo "Fashion-MNIST is missing ($(FASHION_MNIST)) and apt-get is not available here."; \
	  echo "Install Debian's package dataset-fashion-mnist, or copy its four IDX files into a folder and pass --idx_dir=FOLDER,"; \
	  echo "or prepare tfds 'fashion_mnist' on a machine with internet and pass --data_dir=DIR."; \
	fi

test: $(VENV)/stamp data
	$(PY) -m pytest -q -n 2

# ruff's lint rules and format check, as configured in pyproject.toml.
lint: $(VENV)/stamp
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/stamp
	$(VENV)/bin/ruff format .

clean-venv:
	rm -rf $(VENV)

# Table 1: every row without a finished record runs (an interrupted grid continues), then the report.
reproduce-table1: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.table1 --preset=$(PRESET) --results_dir=$(RESULTS)

# Figures 1 and 2 and Table 4, drawn from the run records as PNG with the CSV of the series beside it.
# Figure 1's runs are Table 1's kind and share its results dir (and its true- and random-label runs);
# Figure 2 (trained past 100%, tested every epoch) and Table 4 (random labels with regularizers) have their own.
reproduce-figure1: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.figure1 --preset=$(PRESET) --results_dir=$(RESULTS)

reproduce-figure2: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.figure2 --preset=$(PRESET) --results_dir=$(RESULTS)/figure2

reproduce-table4: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.table4 --preset=$(PRESET) --results_dir=$(RESULTS)/table4

# Theorem 1: the 2n + d network on every training image of the preset's data set, with random labels.
reproduce-theorem1: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.theorem1 --preset=$(PRESET) --train_size=0 --corruption=random_labels \
	  --results_dir=$(RESULTS)

# Table 3: minimum-norm kernel interpolation on TABLE3_N training examples and the preset's test set.
reproduce-table3: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.table3 --preset=$(PRESET) --train_size=$(TABLE3_N) --results_dir=$(RESULTS)

# The Rademacher probe: the five architectures on random signs of the preset's training subset.
reproduce-rademacher: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.rademacher --preset=$(PRESET) --results_dir=$(RESULTS)

rademacher: reproduce-rademacher

# Training and input-pipeline throughput of this machine, and what each speed setting is worth
# (tools/benchmark.py); run it on a quiet machine. BENCHMARK_FLAGS="--settings --torch" adds PyTorch's rates.
BENCHMARK_FLAGS ?= --settings
benchmark: $(VENV)/stamp data
	$(PY) tools/benchmark.py $(BENCHMARK_FLAGS) --out=results/benchmark.json
