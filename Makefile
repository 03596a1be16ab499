# Template repository tasks. Everything runs through uv (`python3 -m pip install uv` if missing).
.DEFAULT_GOAL := help
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
DEMO ?= ../my-ml-project

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: ## Install the template's dev tools into .venv
	$(UV) sync

.PHONY: lint
lint: ## Lint and format-check the template's tests
	$(UV) run ruff check .
	$(UV) run ruff format --check .

.PHONY: test
test: ## Run the whole template test suite (PYTEST_ARGS=... to pass pytest options)
	$(UV) run pytest $(PYTEST_ARGS)

# `make demo` needs only copier (run by uv, not the dev tools). It is quiet: installer and
# renderer output goes to demo.log and is shown only on failure; VERBOSE=1 shows it all.
COPIER := $(UV) tool run --from 'copier>=9.19.1' copier
VERBOSE ?=
QUIET = $(if $(VERBOSE),,>> $(DEMO_LOG) 2>&1 || { cat $(DEMO_LOG); exit 1; })
DEMO_LOG = $(CURDIR)/demo.log

.PHONY: demo
demo: ## Render a project with defaults into $(DEMO) and run its jobs (VERBOSE=1: all output)
	@echo "Rendering the template into $(DEMO) ..."
	@$(COPIER) copy $(if $(VERBOSE),,--quiet) --defaults --overwrite --vcs-ref HEAD . $(DEMO)
	@rm -f $(DEMO_LOG)
	@echo "Installing it (make install; log: $(DEMO_LOG)) ..."
	@cd $(DEMO) && git init --quiet --initial-branch=main $(QUIET)
	@$(MAKE) --no-print-directory -C $(DEMO) install $(QUIET)
	@cd $(DEMO) && git add --all && git -c user.name="$$(git config user.name || echo demo)" \
		-c user.email="$$(git config user.email || echo demo@localhost)" \
		commit --quiet --message "Project from copier-mlops" $(QUIET)
	@echo "Running its jobs (make pipeline: data, train, evaluate, predict, monitor) ..."
	@$(MAKE) --no-print-directory -s -C $(DEMO) pipeline
	@echo
	@echo "Done: the model is trained, promoted to champion and scored. Next:"
	@echo "  cd $(DEMO)"
	@echo "  make serve      # the prediction service on http://127.0.0.1:8080"
	@echo "  make request    # in a second terminal: score one row of the shipped data"

.PHONY: bench
bench: ## Measure render and time-to-green (writes benchmarks/results.md)
	$(UV) run python benchmarks/run.py

.PHONY: bench-batch
bench-batch: ## Batch predict against `mlflow models predict`, same model and file (BENCH_ARGS=--ten-x ...)
	$(UV) run python benchmarks/batch.py $(BENCH_ARGS)

.PHONY: docs
docs: ## Build the template's documentation site into site/
	$(UV) run mkdocs build --strict
