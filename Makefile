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

.PHONY: demo
demo: ## Render a project with defaults into $(DEMO) and run its main job
	$(UV) run copier copy --defaults --overwrite --vcs-ref HEAD . $(DEMO)
	$(MAKE) -C $(DEMO) install train

.PHONY: bench
bench: ## Measure render and time-to-green (writes benchmarks/results.md)
	$(UV) run python benchmarks/run.py

.PHONY: docs
docs: ## Build the template's documentation site into site/
	$(UV) run mkdocs build --strict
