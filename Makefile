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
# DOWNLOAD=1 lets tfds download and prepare a missing data set (PRESET=paper: CIFAR-10) into DATA_DIR (tfds'
# own default, ~/tensorflow_datasets, when unset); nothing is downloaded without it.
DOWNLOAD ?=
DATA_DIR ?=
# WORKERS=N: local worker processes sharing an experiment's runs (the preset's choice when unset: laptop 2).
WORKERS ?=
# FLAGS: any further flags of the experiment, e.g. FLAGS="--train_split='train[:5%]'" (Table 2 on a slice of ImageNet).
FLAGS ?=
RUN_FLAGS := $(if $(filter 1 yes true,$(DOWNLOAD)),--download) $(if $(DATA_DIR),--data_dir=$(DATA_DIR)) \
  $(if $(WORKERS),--workers=$(WORKERS)) $(FLAGS)
# Table 2's ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar (PRESET=paper; tfds' manual dir when unset).
IMAGENET_DIR ?=

.PHONY: test lint format data tune-laptop reproduce-table1 reproduce-figure1 reproduce-figure2 reproduce-table2 reproduce-table4 reproduce-theorem1 reproduce-table3 reproduce-rademacher reproduce-measures reproduce-memorization reproduce-regularizers reproduce-csr-noise reproduce-double-descent reproduce-scaling rademacher benchmark clean-venv

$(VENV)/stamp: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev,ray]'
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
	$(PY) -m rethink_tf.experiments.table1 --preset=$(PRESET) --results_dir=$(RESULTS) $(RUN_FLAGS)

# Figures 1 and 2 and Table 4, drawn from the run records as PNG with the CSV of the series beside it.
# Figure 1's runs are Table 1's kind and share its results dir (and its true- and random-label runs);
# Figure 2 (trained past 100%, tested every epoch) and Table 4 (random labels with regularizers) have their own.
reproduce-figure1: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.figure1 --preset=$(PRESET) --results_dir=$(RESULTS) $(RUN_FLAGS)

reproduce-figure2: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.figure2 --preset=$(PRESET) --results_dir=$(RESULTS)/figure2 $(RUN_FLAGS)

reproduce-table4: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.table4 --preset=$(PRESET) --results_dir=$(RESULTS)/table4 $(RUN_FLAGS)

# Generalization measures (docs/measures.md) against the gap over Table 1's, Figure 1's and Table 4's runs (DIR and
# DIR/table4): trains what is missing, gives finished runs their measures without retraining, then the report.
reproduce-measures: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.measures --preset=$(PRESET) --results_dir=$(RESULTS) $(RUN_FLAGS)

# keras-tuner re-derives the laptop preset's learning rate, batch size and batch-norm momentum for Inception-small
# on true labels (docs/tuning.md), TRIALS runs of the preset in $(RESULTS)/tune; an interrupted search continues.
TRIALS ?= 8
tune-laptop: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.tune --preset=laptop --model=inception_small --max_trials=$(TRIALS) \
	  --results_dir=$(RESULTS)/tune $(RUN_FLAGS)

# Table 2: Inception V3 on ImageNet (tfds imagenet2012), true labels with and without its regularizers and random
# labels. PRESET=paper (GPU machines) has tfds prepare the tar files in IMAGENET_DIR into DATA_DIR once (from the
# files alone: nothing is downloaded); PRESET=smoke writes a tiny set in ILSVRC2012's format here and runs it all.
reproduce-table2: $(VENV)/stamp data
ifeq ($(PRESET),smoke)
	$(PY) tools/tiny_imagenet.py --out=$(RESULTS)/table2-imagenet
	$(PY) -m rethink_tf.experiments.table2 --preset=table2_smoke --download --manual_dir=$(RESULTS)/table2-imagenet \
	  --data_dir=$(RESULTS)/table2-tfds --results_dir=$(RESULTS)/table2 $(FLAGS)
else ifeq ($(PRESET),paper)
	$(PY) -m rethink_tf.experiments.table2 --preset=table2_paper --results_dir=$(RESULTS)/table2 \
	  $(if $(IMAGENET_DIR),--download --manual_dir=$(IMAGENET_DIR)) $(RUN_FLAGS)
else
	@echo "Table 2 (ImageNet) runs with PRESET=paper (on GPUs, the ILSVRC2012 tar files in IMAGENET_DIR) or PRESET=smoke (a tiny set, here)" >&2; exit 2
endif

# Theorem 1: the 2n + d network on every training image of the preset's data set, with random labels.
reproduce-theorem1: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.theorem1 --preset=$(PRESET) --train_size=0 --corruption=random_labels \
	  --results_dir=$(RESULTS) $(RUN_FLAGS)

# Table 3: minimum-norm kernel interpolation on TABLE3_N training examples and the preset's test set.
reproduce-table3: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.table3 --preset=$(PRESET) --train_size=$(TABLE3_N) --results_dir=$(RESULTS) $(RUN_FLAGS)

# The Rademacher probe: the five architectures on random signs of the preset's training subset.
reproduce-rademacher: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.rademacher --preset=$(PRESET) --results_dir=$(RESULTS) $(RUN_FLAGS)

rademacher: reproduce-rademacher

# Which examples are memorized (docs/memorization.md): Feldman & Zhang's held-out runs per model and label corruption
# p, and Arpit et al.'s difficulty test, in $(RESULTS)/memorization; weights kept only with
# FLAGS=--memorization_weights. PRESET=smoke: a few minutes.
reproduce-memorization: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.memorization --preset=$(PRESET) --results_dir=$(RESULTS)/memorization $(RUN_FLAGS)

# What stops memorization (Arpit et al. 2017, Section 5): each regularizer's strengths on random and on true labels.
reproduce-regularizers: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.regularizers --preset=$(PRESET) --results_dir=$(RESULTS)/regularizers $(RUN_FLAGS)

# The critical sample ratio under label and input noise (Arpit et al. 2017, Figures 7-9): true labels, randY and
# randX at p = 0.2-0.8 and random labels, a CSR point every epoch.
reproduce-csr-noise: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.csr_noise --preset=$(PRESET) --results_dir=$(RESULTS)/csr_noise $(RUN_FLAGS)

# Double descent under label noise (Nakkiran et al. 2019): MLP widths x label noise on one n, then n at one width;
# Adam at a constant learning rate, no early stop (docs/double-descent.md).
reproduce-double-descent: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.double_descent --preset=$(PRESET) --results_dir=$(RESULTS)/double_descent $(RUN_FLAGS)

# Table 1 and Figure 1b as n grows: true and random labels per model at n = 400 ... 60,000 (long; it resumes).
reproduce-scaling: $(VENV)/stamp data
	$(PY) -m rethink_tf.experiments.scaling --preset=$(PRESET) --results_dir=$(RESULTS)/scaling $(RUN_FLAGS)

# Training and input-pipeline throughput of this machine, and what each speed setting is worth
# (tools/benchmark.py); run it on a quiet machine. BENCHMARK_FLAGS="--settings --torch" adds PyTorch's rates.
BENCHMARK_FLAGS ?= --settings
benchmark: $(VENV)/stamp data
	$(PY) tools/benchmark.py $(BENCHMARK_FLAGS) --out=results/benchmark.json
