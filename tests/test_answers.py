"""Bad answers are refused with a message a person understands, and nothing is written."""

from __future__ import annotations

import keyword
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

COPIER = [sys.executable, "-m", "copier"]


def copy_with(answers: dict[str, str], dst: Path) -> subprocess.CompletedProcess[str]:
    """Run `copier copy --defaults --data k=v ...` the way a user would."""
    data = [arg for key, value in answers.items() for arg in ("--data", f"{key}={value}")]
    return subprocess.run(
        [*COPIER, "copy", "--defaults", "--vcs-ref", "HEAD", *data, str(REPO), str(dst)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_name": "  "}, "The project name must not be empty."),
        (
            {"project_name": "2024"},
            "No package name can be made from the project name '2024': it has no letters a-z.",
        ),
        ({"package_name": "MyModel"}, "'MyModel' must be a lowercase Python identifier"),
        ({"package_name": "my-model"}, "'my-model' must be a lowercase Python identifier"),
        ({"package_name": "2model"}, "'2model' must be a lowercase Python identifier"),
        ({"package_name": "class"}, "'class' is a Python keyword"),
        ({"package_name": "json"}, "'json' would shadow the standard library"),
        (
            {"package_name": "sklearn"},
            "'sklearn' would shadow the standard library or a dependency",
        ),
        ({"project_slug": "My Model"}, "The distribution name 'My Model' must be lowercase"),
        ({"author_email": "ml-team"}, "'ml-team' is not an email address"),
        ({"author_email": "a@b"}, "'a@b' is not an email address"),
        ({"version": "v1"}, "'v1' is not a PEP 440 version"),
        ({"version": "1.0-beta"}, "'1.0-beta' is not a PEP 440 version"),
        ({"description": 'say "hi"'}, "must not contain double quotes or backslashes"),
        ({"python_version": "3.9"}, "python_version"),
        ({"license": "GPL"}, "license"),
        ({"task": "ranking"}, "task"),
        ({"orchestrator": "dagster"}, "'orchestrator': 'dagster' is not in"),
        ({"ci": "jenkins"}, "'ci': 'jenkins' is not in"),
        (
            {"platforms": "[kubernetes]", "use_docker": "false"},
            "The kubernetes platform runs the project's image",
        ),
        (
            {"platforms": "[sagemaker]", "use_docker": "false"},
            "The sagemaker platform runs the project's image",
        ),
        *(
            ({"platforms": "[databricks]", **answer}, message)
            for answer, message in [
                (
                    {"databricks_host": "http://adb-1.7.azuredatabricks.net"},
                    "is not a workspace URL",
                ),
                ({"databricks_host": "https://adb-1.7.net/o/1"}, "is not a workspace URL"),
                (
                    {"databricks_catalog": "Main"},
                    "The catalog 'Main' must be a lowercase identifier",
                ),
                ({"databricks_catalog": "ml-prod"}, "'ml-prod' must be a lowercase identifier"),
                (
                    {"databricks_catalog": "c" * 256},
                    "The catalog name is 256 characters long: Unity Catalog names are at most 255.",
                ),
                (
                    {"databricks_schema": "s" * 252},
                    "The schema name is 252 characters long: at most 251",
                ),
                ({"databricks_schema": "my schema"}, "The schema 'my schema' must be a lowercase"),
                ({"databricks_compute": "gpu"}, "'databricks_compute': 'gpu' is not in"),
                ({"python_version": "3.13"}, "Databricks runs Python 3.12"),
                (
                    {"databricks_compute": "job_clusters", "databricks_cloud": "oracle"},
                    "'databricks_cloud': 'oracle' is not in",
                ),
            ]
        ),
    ],
)
def test_invalid_answer_is_refused_and_writes_nothing(
    answers: dict[str, str], message: str, tmp_path: Path
) -> None:
    dst = tmp_path / "project"
    proc = copy_with(answers, dst)
    assert proc.returncode != 0
    assert message in " ".join((proc.stdout + proc.stderr).split())
    assert not dst.exists()


@pytest.mark.parametrize(
    "answers",
    [
        {"package_name": "churn_model2"},
        {"author_email": "first.last+ml@example.co.uk"},
        {"version": "1.0.0rc1"},
        {"ci": "gitlab"},
        {"project_name": "Ünïcode Model", "package_name": "unicode_model"},
        {
            "platforms": "[databricks]",
            "databricks_host": "https://adb-1234567890123456.7.azuredatabricks.net/",
            "databricks_catalog": "ml_prod",
            "databricks_schema": "_churn2",
            "databricks_compute": "job_clusters",
            "databricks_cloud": "gcp",
        },
    ],
)
def test_valid_answers_are_accepted(answers: dict[str, str], tmp_path: Path) -> None:
    proc = copy_with(answers, tmp_path / "project")
    assert proc.returncode == 0, proc.stderr
    recorded = yaml.safe_load((tmp_path / "project" / ".copier-answers.yml").read_text())
    given = {k: yaml.safe_load(v) if v.startswith("[") else v for k, v in answers.items()}
    assert given.items() <= recorded.items()


def test_package_name_defaults_to_a_clean_identifier(tmp_path: Path) -> None:
    proc = copy_with({"project_name": "2024 Churn-Model (v2)!"}, tmp_path / "project")
    assert proc.returncode == 0, proc.stderr
    recorded = yaml.safe_load((tmp_path / "project" / ".copier-answers.yml").read_text())
    assert recorded["package_name"] == "churn_model_v2"
    assert recorded["project_slug"] == "churn-model-v2"


def test_reserved_names_cover_the_running_standard_library_and_keywords() -> None:
    questions = yaml.safe_load((REPO / "copier.yml").read_text())
    reserved = set(questions["reserved_package_names"]["default"])
    public_stdlib = {name for name in sys.stdlib_module_names if name.islower()}
    public_stdlib = {name for name in public_stdlib if not name.startswith("_")}
    assert public_stdlib <= reserved
    keywords_in_validator = questions["package_name"]["validator"]
    assert all(f"'{kw}'" in keywords_in_validator for kw in keyword.kwlist if kw.islower())
