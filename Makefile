# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
export QT_QPA_PLATFORM ?= $(if $(DISPLAY)$(WAYLAND_DISPLAY),,offscreen)

.PHONY: run test test-portable test-portable-run bench bundle clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Install and open the built-in demo recording (without a display: save a screenshot instead).
run: $(BIN)/python
	$(PIP) install --quiet -e .
	@if [ "$(QT_QPA_PLATFORM)" = "offscreen" ]; then \
		$(BIN)/wavescope demo --screenshot wavescope-demo.png; \
	else \
		$(BIN)/wavescope demo; \
	fi

# Install with the test extras and run the whole suite headless: the suite, the GUI tests in their
# own process, then the suite again as on a platform without POSIX-only calls and without MPI.
test: $(BIN)/python
	$(PIP) install --quiet -e '.[test]'
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q --ignore=tests/views
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q tests/views
	$(MAKE) --no-print-directory test-portable-run

# The suite as on a platform without os.preadv/pwritev/pread/pwrite/killpg/getpgid/getsid and
# without MPI (tests/conftest.py --portable; child Python processes too). The integration tests
# (real sorters in their own environments) ran in the first pass: their code paths are the same.
test-portable: $(BIN)/python
	$(PIP) install --quiet -e '.[test]'
	$(MAKE) --no-print-directory test-portable-run

test-portable-run:
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider --portable --ignore=tests/views \
		-m "not slow and not integration"

bench: $(BIN)/python
	$(PIP) install --quiet -e '.[test]'
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m tests.bench

# A standalone one-folder app in dist/wavescope (PyInstaller).
bundle:
	bash packaging/build.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
