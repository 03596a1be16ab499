"""Shared fixtures: render the template with pytest-copie and run commands in the result."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]

# What `platforms: [databricks]` adds to a project with the default answers, and nothing else.
DATABRICKS_FILES = {
    "databricks.yml",
    *(
        f"resources/{name}.yml"
        for name in (
            "training.job",
            "batch_predict.job",
            "drift_monitor.job",
            "model.registered_model",
            "training.experiment",
            "data.volume",
        )
    ),
    ".github/workflows/databricks-bundle.yml",
    "src/my_ml_project/spark_scoring.py",
    "tests/test_spark_scoring.py",
}


def _discoverable_pythons() -> list[str]:
    """Interpreter folders uv cannot see on its own: pyenv versions that are not global."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    return [str(p / "bin") for p in sorted(root.glob("3.1[1-9]*")) if (p / "bin").is_dir()]


@pytest.fixture(scope="session")
def project_env() -> dict[str, str]:
    """Environment for commands run in rendered projects: shared uv cache, no Python downloads."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([*_discoverable_pythons(), env.get("PATH", "")])
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    env.pop("VIRTUAL_ENV", None)  # the template's own venv must not leak into the project's
    # Rendered projects act as on a developer's machine: their `make install` writes uv.lock,
    # where under CI=true it insists on a committed, up-to-date one (`uv sync --locked`).
    env.pop("CI", None)
    # `make test` of this repository must not make a rendered project's `make` a sub-make.
    for variable in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
        env.pop(variable, None)
    return env


def run_command(
    args: list[str],
    cwd: Path | None,
    env: Mapping[str, str],
    *,
    check: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with stdin closed; on an unexpected failure, fail with its output's end."""
    proc = subprocess.run(
        args,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"`{' '.join(args)}` exited {proc.returncode} in {cwd}\n"
            f"--- stdout ---\n{proc.stdout[-5000:]}\n--- stderr ---\n{proc.stderr[-5000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def run(project_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`run_command` in the project environment, plus per-call `env` overrides."""

    def _run(
        args: list[str], cwd: Path, *, check: bool = True, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_command(args, cwd, {**project_env, **(env or {})}, check=check)

    return _run


@pytest.fixture
def render(copie: Any) -> Callable[..., Path]:
    """Render the template (including uncommitted changes) and return the project folder."""

    def _render(**answers: Any) -> Path:
        result = copie.copy(extra_answers=answers, vcs_ref="HEAD")
        assert result.exit_code == 0, result.exception
        assert result.project_dir is not None
        return Path(result.project_dir)

    return _render


@contextlib.contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Hold a file lock: one test process at a time (xdist workers, parallel sessions)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def project_files(project: Path) -> set[str]:
    """Relative paths of every file in a rendered project."""
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}


# --- platforms ----------------------------------------------------------------------------------

# Every file `platforms: [kubernetes]` adds to a project, and nothing else (tests/test_render.py,
# tests/test_update.py and tests/test_kubernetes.py hold projects to exactly this set).
KUBERNETES_FILES = {
    ".github/workflows/kubernetes.yml",
    "configs/kustomization.yaml",
    *(
        f"deploy/kubernetes/base/{name}.yaml"
        for name in (
            "kustomization",
            "namespace",
            "serviceaccount",
            "workspace-pvc",
            "train-cronjob",
            "predict-cronjob",
            "monitor-cronjob",
            "serve-deployment",
            "serve-service",
            "serve-hpa",
            "serve-pdb",
            "networkpolicy-baseline",
            "networkpolicy-serve",
            "networkpolicy-tracking",
        )
    ),
    *(
        f"deploy/kubernetes/components/mlflow/{name}.yaml"
        for name in (
            "kustomization",
            "deployment",
            "service",
            "pvc",
            "networkpolicy-server",
            "networkpolicy-clients",
        )
    ),
    "deploy/kubernetes/overlays/dev/kustomization.yaml",
    "deploy/kubernetes/overlays/prod/kustomization.yaml",
    "deploy/kubernetes/transformers/predict-shards/kustomization.yaml",
    "deploy/kubernetes/transformers/predict-shards/replacements.yaml",
}
