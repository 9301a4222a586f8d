# The two set-up commands in README.md are `make demo` and `make test`; each installs what it needs.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.edgekit-installed

.PHONY: install demo test bench serve clean

$(STAMP): requirements.lock pyproject.toml scripts/install.sh edgekit/web/package.json edgekit/web/package-lock.json
	bash scripts/install.sh
	touch $@

install: $(STAMP)

demo: install
	$(VENV)/bin/edgekit build --config examples/fashion_mnist/edgekit.toml --target all

test: install
	$(PY) -m pytest

# The demo PWA (edgekit/demo_app/) with the web artifacts `make demo` built; HOST=0.0.0.0 for a phone on the LAN.
HOST ?= 127.0.0.1
PORT ?= 8000
serve: install
	$(VENV)/bin/edgekit serve --config examples/fashion_mnist/edgekit.toml --host $(HOST) --port $(PORT)

bench: install
	$(PY) benchmarks/tflite_precisions.py

clean:
	rm -rf build .pytest_cache
