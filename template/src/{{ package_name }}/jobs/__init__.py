"""One module per job; each exposes `run(settings)` and is called by the CLI."""
