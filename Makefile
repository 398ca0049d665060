# Everything runs inside .venv, created and filled from nothing on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint bench bench-study-quick install clean arm-smoke arm-readme

# mlcommons-loadgen has no wheel for aarch64 (a Raspberry Pi): pip builds it from source,
# which needs a C++ compiler and the Python headers. Say so in one line before pip fails.
LOADGEN_BUILD_CHECK = $(PYTHON) -c "import platform, sys, sysconfig, os, shutil; \
	arm = platform.machine().lower() in ('aarch64', 'arm64'); \
	headers = os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')); \
	sys.exit(0 if not arm or (shutil.which('g++') and headers) else 1)" \
	|| { echo "edgebench: building LoadGen on this ARM machine needs a C++ compiler and the Python headers: sudo apt-get install g++ python3-dev" >&2; exit 1; }

# aimet-onnx goes in without its dependency graph, on x86-64 only (its wheels' only
# platform): pyproject.toml's `aimet` extra says why.
AIMET_ONNX := $(shell sed -n 's/^aimet-onnx-no-deps = "\(.*\)"/\1/p' pyproject.toml)
# onnx2torch likewise, on every platform (pure Python): pyproject.toml says why
ONNX2TORCH := $(shell sed -n 's/^onnx2torch-no-deps = "\(.*\)"/\1/p' pyproject.toml)
# On aarch64 PyPI's torch of our pin is the CUDA build (3 GB of NVIDIA packages, a BLAS
# that computed wrong linear layers under emulation): take the CPU build first, from
# PyTorch's index, so that the install below finds torch already satisfied.
TORCH_PIN       := $(shell sed -n 's/^ *"\(torch==[^"]*\)",/\1/p' pyproject.toml)
TORCH_CPU_INDEX := $(shell sed -n 's/^torch-cpu-index = "\(.*\)"/\1/p' pyproject.toml)

$(STAMP): pyproject.toml
	@$(LOADGEN_BUILD_CHECK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@if [ "$$(uname -m)" = aarch64 ]; then \
		$(BIN)/python -m pip install --quiet "$(TORCH_PIN)" --index-url $(TORCH_CPU_INDEX) \
		|| { echo "edgebench: PyTorch's CPU index ($(TORCH_CPU_INDEX)) is out of reach, and PyPI's aarch64 $(TORCH_PIN) is the CUDA build: install its CPU wheel by hand, then make again" >&2; exit 1; }; fi
	$(BIN)/python -m pip install --quiet -e ".[all,dev]"
	$(BIN)/python -m pip install --quiet --no-deps "$(ONNX2TORCH)"
	@if [ "$$(uname -m)" = x86_64 ]; then \
		$(BIN)/python -m pip install --quiet --no-deps "$(AIMET_ONNX)"; fi
	@touch $@

install: $(STAMP)

# INT8 static calibrates on the ImageNet sample beside the project when it is there,
# else on synthetic inputs (every result made so then says so).
SAMPLE      := ../shared/data/imagenet-sample
CALIBRATION ?= $(if $(wildcard $(SAMPLE)/val_map.txt),$(SAMPLE),synthetic)

# Each demo writes its own results folder, so a second demo never mixes with the first;
# the report is made even when a cell failed, and the failure still fails `make demo`.
# ARTIFACTS=DIR runs what `edgebench prepare demo --out DIR` built on another machine
# (on a Raspberry Pi, the only way to its TFLite cells: no .tflite converter runs there).
demo: $(STAMP)
	@runs=results/demo-$$(date -u +%Y%m%dT%H%M%S); \
	$(BIN)/edgebench sweep demo --calibration $(CALIBRATION) --results $$runs \
		$(if $(ARTIFACTS),--artifacts $(ARTIFACTS)); status=$$?; \
	$(BIN)/edgebench report $$runs --out $$runs/report && exit $$status

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Runtime parity (FP32 against each runtime's own tool), then what INT8 buys over FP32
# against the runtimes' own speed-ups (38 minutes here on 2 cores, VGG-19 builds included),
# then OpenVINO against benchmark_app with the causes of a gap measured apart.
bench: $(STAMP)
	$(BIN)/python benchmarks/runtime_parity.py
	$(BIN)/python benchmarks/quantization_speedup.py
	$(BIN)/python benchmarks/openvino_parity.py

# The quick study's time to answer: prepare (timed apart), the estimate, the sweep, and
# where its time went (about 30 + 45 minutes here); then --target-ci 5 --budget 30 on
# benchmarks/repeat_spread.toml. Each run writes a new folder under results/.
bench-study-quick: $(STAMP)
	@out=results/bench-study-quick-$$(date -u +%Y%m%dT%H%M%S); \
	$(BIN)/python benchmarks/time_to_answer.py --prepared results/prepared-study-quick \
		--results $$out/study-quick && \
	$(BIN)/edgebench sweep benchmarks/repeat_spread.toml --target-ci 5 --budget 30 \
		--results $$out/repeat-spread

# An emulated arm64 Debian 12 runs quick benchmarks from artifacts prepared here (root;
# the first run builds the root and LoadGen, later runs reuse them). Not part of `make test`.
arm-smoke: $(STAMP)
	scripts/arm-smoke.sh

# The README's `make demo` and `make test` in a fresh clone inside that emulated root
# (root; hours: emulated inference is ~150x slower). ARM_TEST_TIMEOUT=S caps `make test`.
arm-readme:
	scripts/arm-readme.sh

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
