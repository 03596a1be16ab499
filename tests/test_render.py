"""The rendered file set follows the answers, and rendered Python is lint- and format-clean."""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from docker.utils.build import exclude_paths

from conftest import (
    AIRFLOW_FILES,
    DATABRICKS_FILES,
    KUBERNETES_FILES,
    REPO,
    makefile,
    project_files,
)

CORE_FILES = {
    ".copier-answers.yml",
    ".dockerignore",  # use_docker (default yes)
    ".editorconfig",
    ".github/dependabot.yml",
    ".github/workflows/ci.yml",
    ".github/workflows/release.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    ".python-version",
    "CHANGELOG.md",
    "Dockerfile",  # use_docker (default yes)
    "LICENSE",
    "Makefile",
    "README.md",
    "pyproject.toml",
    *(
        f"configs/{job}.yaml"
        for job in ("data", "train", "evaluate", "predict", "monitor", "serve")
    ),
    *(
        f"src/my_ml_project/{module}.py"
        for module in (
            "__init__",
            "card",
            "charts",
            "cli",
            "data",
            "errors",
            "metrics",
            "model",
            "outputs",
            "port_sharing",
            "promotion",
            "report",
            "schema",
            "service",
            "settings",
            "startup",
            "task",
            "tracking",
            "jobs/__init__",
            "jobs/data",
            "jobs/train",
            "jobs/evaluate",
            "jobs/predict",
            "jobs/monitor",
        )
    ),
    "src/my_ml_project/py.typed",
    *(
        f"tests/{module}.py"
        for module in (
            "conftest",
            "_speed",
            "test_champion",
            "test_cli",
            "test_data",
            "test_lifecycle",
            "test_model",
            "test_pipeline",
            "test_predict",
            "test_serve_limits",
            "test_service",
            "test_settings",
            "test_task",
            "test_tracking",
        )
    ),
}
DOCS_FILES = {"mkdocs.yml", "docs/index.md", "docs/make-it-yours.md"}
SAGEMAKER_FILES = {
    ".github/workflows/sagemaker.yml",
    "deploy/sagemaker/config.yaml",
    "deploy/sagemaker/stack.yaml",
    "deploy/sagemaker/deploy.py",
    "deploy/sagemaker/README.md",
    "make/sagemaker.mk",
    *(
        f"src/my_ml_project/sagemaker/{module}.py"
        for module in ("__init__", "container", "invocations")
    ),
    *(f"tests/test_sagemaker_{part}.py" for part in ("container", "deploy", "invocations")),
}


def test_defaults_render_the_core_project(render: Callable[..., Path]) -> None:
    project = render()
    assert project_files(project) == CORE_FILES  # no platform: no deploy/, no platform workflow
    assert "kubernetes-" not in makefile(project)
    assert "include " not in makefile(project)  # no platform, no orchestrator: no fragment
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["package_name"] == "my_ml_project"
    assert answers["platforms"] == []
    assert "reserved_package_names" not in answers


def test_each_task_renders_the_same_files_with_its_own_task_module(
    render: Callable[..., Path],
) -> None:
    """`task.py` and `tests/test_task.py` come from one of two templates each, by file name."""
    project = render(task="regression")
    assert project_files(project) == CORE_FILES
    task = (project / "src/my_ml_project/task.py").read_text()
    assert '"""What the task, regression, means' in task
    assert "predict_proba" not in task
    package = [p.read_text() for p in (project / "src/my_ml_project").rglob("*.py")]
    assert not [text for text in package if "{%" in text or "task ==" in text]


def test_docs_answer_adds_the_docs_site(render: Callable[..., Path]) -> None:
    project = render(use_docs=True)
    assert project_files(project) == CORE_FILES | DOCS_FILES
    assert "docs:" in (project / "Makefile").read_text()


def test_platforms_are_recorded_for_later_updates(render: Callable[..., Path]) -> None:
    project = render(platforms=["databricks", "sagemaker", "kubernetes"])
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["platforms"] == ["databricks", "sagemaker", "kubernetes"]
    # The answer is kept so an update adds or removes each platform's files.
    assert project_files(project) == (
        CORE_FILES | KUBERNETES_FILES | DATABRICKS_FILES | SAGEMAKER_FILES
    )


def test_gitlab_ci_replaces_the_github_files(render: Callable[..., Path]) -> None:
    project = render(ci="gitlab")
    github = {f for f in CORE_FILES if f.startswith(".github/")}
    assert github
    assert project_files(project) == (CORE_FILES - github) | {".gitlab-ci.yml"}
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["ci"] == "gitlab"


def test_kubernetes_adds_exactly_its_files(render: Callable[..., Path]) -> None:
    project = render(platforms=["kubernetes"])
    assert project_files(project) == CORE_FILES | KUBERNETES_FILES
    assert "kubernetes-deploy:" in makefile(project)
    assert "kubernetes-" not in (project / "Makefile").read_text()  # all in make/kubernetes.mk
    assert "(deploy/kubernetes/README.md)" in (project / "README.md").read_text()
    assert "## Kubernetes" not in (project / "README.md").read_text()
    assert (project / "deploy/kubernetes/README.md").read_text().startswith("# Kubernetes\n")


def test_airflow_adds_exactly_its_files(render: Callable[..., Path]) -> None:
    project = render(orchestrator="airflow")
    assert project_files(project) == CORE_FILES | AIRFLOW_FILES
    assert "\ninclude $(sort $(wildcard make/*.mk))\n" in (project / "Makefile").read_text()
    assert "dags/README.md" in (project / "README.md").read_text()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["orchestrator"] == "airflow"
    assert yaml.safe_load((REPO / "copier.yml").read_text())["orchestrator"]["default"] == "none"


def test_sagemaker_adds_its_files_and_leaves_no_trace_without_it(
    render: Callable[..., Path],
) -> None:
    assert project_files(render(platforms=["sagemaker"])) == CORE_FILES | SAGEMAKER_FILES
    project = render()
    traces = re.compile(r"sagemaker|boto|moto|/invocations|/ping|opt/ml", re.IGNORECASE)

    def text(f: str) -> str:  # the template's own path may name it (this work tree's does)
        content = (project / f).read_text(encoding="utf-8", errors="replace")
        return re.sub(r"^_src_path: .*$", "", content, flags=re.MULTILINE)

    found = {f for f in project_files(project) if traces.search(text(f))}
    assert found == set()  # no file, route, dependency or target of it


@pytest.mark.parametrize(
    ("license_id", "first_words", "spdx"),
    [
        ("MIT", "MIT License", "MIT"),
        ("Apache-2.0", "Apache License", "Apache-2.0"),
        ("BSD-3-Clause", "BSD 3-Clause License", "BSD-3-Clause"),
        ("Proprietary", "Copyright (c)", "LicenseRef-Proprietary"),
    ],
)
def test_license_file_and_metadata_match_the_answer(
    render: Callable[..., Path], license_id: str, first_words: str, spdx: str
) -> None:
    project = render(license=license_id, author_name="Data Team")
    text = (project / "LICENSE").read_text().strip()
    assert text.startswith(first_words)
    if license_id != "Apache-2.0":  # Apache's text names no holder: its appendix shows how
        assert "Data Team" in text
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert metadata["license"] == spdx


@pytest.mark.parametrize("python_version", ["3.11", "3.12", "3.13"])
def test_python_version_drives_every_tool(render: Callable[..., Path], python_version: str) -> None:
    project = render(python_version=python_version)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={python_version}"
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + python_version.replace(".", "")
    assert pyproject["tool"]["pyrefly"]["python-version"] == python_version
    assert (project / ".python-version").read_text().strip() == python_version


def test_names_flow_into_metadata_and_entry_point(render: Callable[..., Path]) -> None:
    project = render(
        project_name="Churn Model",
        package_name="churn",
        project_slug="acme-churn",
        author_email="ml@acme.io",
    )
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "acme-churn"
    assert pyproject["project"]["scripts"] == {"acme-churn": "churn.cli:main"}
    assert pyproject["project"]["authors"] == [{"name": "ML Team", "email": "ml@acme.io"}]
    assert (project / "src/churn/py.typed").exists()
    assert (project / "README.md").read_text().startswith("# Churn Model")


@pytest.mark.parametrize(
    "answers", [{}, {"use_docs": True, "use_docker": False, "python_version": "3.13"}]
)
def test_rendered_python_is_ruff_clean_as_rendered(
    render: Callable[..., Path], run: Callable[..., object], answers: dict[str, object]
) -> None:
    project = render(**answers)
    ruff = [sys.executable, "-m", "ruff"]
    run([*ruff, "check", "--no-cache", "."], cwd=project)
    run([*ruff, "format", "--check", "--no-cache", "."], cwd=project)


def test_template_docs_site_builds(run: Callable[..., object], tmp_path: Path) -> None:
    run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path)], cwd=REPO)
    assert (tmp_path / "questions" / "index.html").is_file()


def test_dockerignore_keeps_secrets_out_of_the_build_context(render: Callable[..., Path]) -> None:
    """Docker's own pattern rules (the docker SDK's `exclude_paths`) on secrets at any depth."""
    project = render()
    secrets = [
        ".env",
        "configs/.env",
        "configs/.env.local",
        "configs/tls/server.pem",
        "src/my_ml_project/signing.key",
        ".aws/credentials",
        "configs/.aws/config",
        ".netrc",
        "configs/.netrc",
        ".pypirc",
        "src/.pypirc",
        "kubeconfig",
        "configs/kubeconfig",
        "configs/prod.kubeconfig",
        ".kube/config",
        ".databricks/bundle/dev/state.json",
        "configs/.databricks/x.json",
        ".databrickscfg",
    ]
    for secret in secrets:
        (project / secret).parent.mkdir(parents=True, exist_ok=True)
        (project / secret).write_text("secret\n")
    patterns = [
        line.strip()
        for line in (project / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    context = set(exclude_paths(str(project), patterns))
    assert not context & set(secrets)
    assert {"pyproject.toml", "configs/train.yaml", "src/my_ml_project/cli.py"} <= context
