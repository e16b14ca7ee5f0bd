# Two commands on a fresh machine: `make lab` and `make test` (`make check`: its fast tier).
# Both create .venv when it is missing or older than pyproject.toml.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.gradflow-ready
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
LAB_ARGS ?=
PYTEST_ARGS ?=

.PHONY: lab test check test-browser setup build notebooks slides site clean

# JupyterLab refuses to run as root (as in many containers) unless told to.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: setup
	@$(if $(ROOT_FLAG),echo "Running as root: JupyterLab is started with --allow-root.")
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/notebooks/01_chain_rule.ipynb $(ROOT_FLAG) $(LAB_ARGS)

# One worker per core, one test file at a time each (--dist loadfile). Every
# notebook is a test file of its own here (see tests/notebook_items.py), so
# notebooks and other tests share the workers, and no more kernels run at
# once than there are cores. Files are handed out in the order tests/conftest.py
# gives them (the longest first), not by their number of tests.
test: setup
	$(BIN)/python -m pytest -n auto --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# The fast tier, for whoever changes a lesson, a check or a hint: the compute, verdict, hint and case
# tests, the grader's unit tests and the lessons' structure tests, about a minute on two cores. No
# notebook is executed, no browser opened, no class graded: `make test` stays the whole truth, and
# it is what CI runs. Spread test by test over the workers (--dist load): a few files hold most of
# the work. Measured in docs/performance.md, "The test suite".
CHECK_TESTS := $(addprefix tests/test_,$(addsuffix .py,\
	graph layers gradcheck softmax dropout batchnorm network layernorm initialisation attention \
	chain_rule_exercises staged_computation matmul_gradients two_layer_net \
	cases diagnose check_edges exercises points wrong_answers_06_07 hint_specificity own_work \
	grading_units architecture \
	build lesson_truths chain_rule_lesson readme instructor_guide environment portable_outputs))

check: setup
	$(BIN)/python -m pytest -n auto --dist load $(CHECK_TESTS) $(PYTEST_ARGS)

# The real-browser tests alone: installs chromium (apt-get) and playwright first.
test-browser: setup
	scripts/install-browser.sh
	GRADFLOW_REQUIRE_BROWSER=1 $(BIN)/python -m pytest tests/test_browser.py tests/test_browser_other_half.py tests/test_report_browser.py tests/test_session_browser.py $(PYTEST_ARGS)

setup: $(READY)

# The stamp is newer than pyproject.toml once the install succeeded; a changed
# pyproject.toml makes it stale, and the environment is brought up to date.
$(READY): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@mkdir -p $(dir $(LAB_OVERRIDES))
	@# No "news" pop-up in JupyterLab: the course is about backprop, not updates.
	@echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' > $(LAB_OVERRIDES)
	@touch $@

# Authoring: regenerate exercises/ from solutions/.
build: setup
	$(BIN)/python -m course build

clean:
	rm -rf $(VENV)

# Authoring: rerun every lesson and master, save outputs, rebuild exercises/.
notebooks: setup
	$(BIN)/python -m course execute notebooks/*.ipynb solutions/*.ipynb
	$(BIN)/python -m course build

# Instructor kit: a reveal.js deck per lesson, and an index page, in build/slides/
# (reveal.js, MathJax and the widget renderer are fetched once into
# build/slides/vendor/, so the decks work offline).
slides: setup
	$(BIN)/python scripts/build_slides.py --out build/slides

# The course as a static website in build/site/ (open build/site/index.html):
# every lesson and exercise notebook as a page, widgets from their saved state;
# require.js, MathJax and the widget renderer are fetched once into
# build/site/vendor/, so the site works offline, from file://.
site: setup
	$(BIN)/python scripts/build_site.py --out build/site
