# The two commands of the README: `make demo` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# llama.cpp built for the generic CPU: the native build crashes on some CPUs at the first token.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: install demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local,dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/horizonscan analyze examples/ --origin "Example watch=https://example.org/watch/1"
	@echo "Pages: ./pages/index.md"

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/bench_throughput.py
	$(BIN)/python bench/bench_request_size.py
	$(BIN)/python bench/bench_rerun.py
	$(BIN)/python bench/bench_similarity_scale.py
	$(BIN)/python bench/calibrate_compare.py --no-write

clean:
	rm -rf $(VENV) pages horizonscan.db horizonscan.db-wal horizonscan.db-shm
