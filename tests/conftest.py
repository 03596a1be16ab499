"""Shared fixtures: render the template with pytest-copie and run commands in the result."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the template's .venv: check-jsonschema, kubernetes-validate

# What `platforms: [databricks]` adds to a project with the default answers, and nothing else.
DATABRICKS_FILES = {
    "databricks.yml",
    *(
        f"resources/{name}.yml"
        for name in (
            "training.job",
            "batch_predict.job",
            "drift_monitor.job",
            "retrain_on_drift.job",
            "model.registered_model",
            "training.experiment",
            "data.volume",
        )
    ),
    ".github/workflows/databricks-bundle.yml",
    "make/databricks.mk",
    "resources/README.md",
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


def makefile(project: Path) -> str:
    """The project's Makefile and the fragments it includes (make/*.mk), as one text."""
    fragments = sorted(project.glob("make/*.mk"))
    return "".join(p.read_text() for p in [project / "Makefile", *fragments])


def project_files(project: Path) -> set[str]:
    """Relative paths of every file in a rendered project."""
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}


# --- platforms ----------------------------------------------------------------------------------

# Every file `platforms: [kubernetes]` adds to a project, and nothing else (tests/test_render.py,
# tests/test_update.py and tests/test_kubernetes.py hold projects to exactly this set).
KUBERNETES_FILES = {
    ".github/workflows/kubernetes.yml",
    "configs/kustomization.yaml",
    "make/kubernetes.mk",
    "deploy/kubernetes/README.md",
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
            "retrain-cronjob",
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


# Every file `orchestrator: airflow` adds to a project with the default answers, and nothing else
# (tests/test_render.py, tests/test_update.py and tests/test_airflow.py).
AIRFLOW_FILES = {
    "dags/my_ml_project.py",
    "dags/README.md",
    "dags/pyproject.toml",
    "dags/.airflowignore",
    "make/airflow.mk",
}


# The validators of each platform, shared by its test module and tests/test_matrix.py.

DATABRICKS_SCHEMA = REPO / "tests" / "databricks" / "bundle-schema.json"


def bundle_files(project: Path) -> list[Path]:
    """databricks.yml and every resource file it includes."""
    return [project / "databricks.yml", *sorted((project / "resources").glob("*.yml"))]


def check_bundle_schema(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with the databricks CLI's bundle schema (vendored in tests/databricks/)."""
    command = [str(BIN / "check-jsonschema"), "--schemafile", str(DATABRICKS_SCHEMA)]
    return run_command([*command, *map(str, args)], None, os.environ, check=False, timeout=300)


def assert_bundles_match_the_schema(files: list[Path]) -> None:
    """Every bundle file passes the schema, in one process (the 900 KB schema is parsed once)."""
    proc = check_bundle_schema(*files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok -- validation done" in proc.stdout
    # The schema leaves the top level open (for YAML anchors, which these files do not use):
    # a misspelt section would pass it, so every top-level key must be one it defines.
    sections = set(json.loads(DATABRICKS_SCHEMA.read_text())["properties"])
    for path in files:
        assert set(yaml.safe_load(path.read_text())) <= sections, path


# The newest Kubernetes and the oldest the manifests support (Job pod failure policies and
# unhealthy-pod eviction are GA since 1.31); the generated `make kubernetes-validate` uses the same.
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")


@pytest.fixture(scope="session")
def kubectl() -> str:
    """kubectl (client >= 1.27 for kustomize v5): skipped locally when missing, fatal in CI."""
    path = shutil.which("kubectl")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is required to render the Kubernetes overlays")
        pytest.skip("kubectl is not installed: the Kubernetes overlays cannot be rendered")
    return path


def kustomize_overlays(project: Path, kubectl: str) -> dict[str, Path]:
    """Every overlay rendered by `kubectl kustomize` into `<project>-<overlay>.yaml` beside it."""
    rendered = {}
    for overlay in sorted((project / "deploy" / "kubernetes" / "overlays").iterdir()):
        command = [kubectl, "kustomize", str(overlay.relative_to(project))]
        path = project.parent / f"{project.name}-{overlay.name}.yaml"
        path.write_text(run_command(command, project, os.environ).stdout)
        rendered[overlay.name] = path
    return rendered


def kubernetes_validate(files: list[Path], version: str) -> list[str]:
    """kubernetes-validate's errors for manifests against one Kubernetes version's schemas.

    Strict: an unknown or misspelt field is an error. A failure that reports no error (the tool
    itself broke) fails the test.
    """
    command = [str(BIN / "kubernetes-validate"), "--strict", "--quiet", "-k", version]
    proc = run_command([*command, *map(str, files)], None, os.environ, check=False)
    errors = [line for line in proc.stdout.splitlines() if line.startswith("ERROR")]
    if proc.returncode != 0 and not errors:
        pytest.fail(f"kubernetes-validate exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return errors


# What a dry run needs from the account, made up: nothing reaches AWS.
SAGEMAKER_ACCOUNT_ENV = {
    "AWS_REGION": "eu-west-1",
    "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemaker-execution",
    "SAGEMAKER_BUCKET": "ml-artifacts-example",
    "SAGEMAKER_IMAGE_URI": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-ml-project:0a1b2c3",
}


def sagemaker_dry_runs(
    project: Path, run: Callable[..., subprocess.CompletedProcess[str]]
) -> dict[str, list[dict[str, Any]]]:
    """`make sagemaker-<step> SAGEMAKER_ARGS=--dry-run` of an installed project, every step.

    Returns the requests each step would send (its JSON output). The training job must run the
    account's image with its role on the train and test channels.
    """
    requests = {}
    for step in ("train", "register", "deploy", "invoke", "transform", "cleanup"):
        proc = run(
            ["make", "--no-print-directory", f"sagemaker-{step}", "SAGEMAKER_ARGS=--dry-run"],
            cwd=project,
            env=SAGEMAKER_ACCOUNT_ENV,
        )
        requests[step] = json.loads(proc.stdout[proc.stdout.index("[") :])
        assert requests[step], step
        assert all(set(request) >= {"operation", "params"} for request in requests[step]), step
    (training,) = (r for r in requests["train"] if r["operation"] == "create_training_job")
    params = training["params"]
    image = SAGEMAKER_ACCOUNT_ENV["SAGEMAKER_IMAGE_URI"]
    assert params["AlgorithmSpecification"]["TrainingImage"] == image
    assert params["RoleArn"] == SAGEMAKER_ACCOUNT_ENV["SAGEMAKER_ROLE_ARN"]
    assert [c["ChannelName"] for c in params["InputDataConfig"]] == ["train", "test"]
    return requests


# --- wall times ----------------------------------------------------------------------------------


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the `wall time` properties tests record (record_property), also from xdist workers."""
    lines = [
        f"{report.nodeid}: {value}"
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", ())
        if name == "wall time" and getattr(report, "when", None) == "call"
    ]
    if lines:
        terminalreporter.write_sep("-", "wall times")
        for line in lines:
            terminalreporter.write_line(line)
