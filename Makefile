# The two set-up commands in README.md are `make demo` and `make test`; each installs what it needs.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.edgekit-installed

.PHONY: install demo test bench clean

$(STAMP): requirements.lock pyproject.toml scripts/install.sh package.json package-lock.json
	bash scripts/install.sh
	touch $@

install: $(STAMP)

demo: install
	$(VENV)/bin/edgekit build --config examples/fashion_mnist/edgekit.toml --target all

test: install
	$(PY) -m pytest

bench: install
	$(PY) benchmarks/tflite_precisions.py

clean:
	rm -rf build .pytest_cache
