"""The Databricks target, proven offline.

- Every bundle file of every compute variant validates against the bundle JSON schema of the
  databricks CLI (vendored in tests/databricks/, see its README) with check-jsonschema, and every
  job and volume loads strictly with the typed classes of `databricks-bundles` (the same CLI
  release): unknown keys, missing fields and bad enum values are errors.
- Every task runs the package's own entry point: it is in [project.scripts], its parameters
  parse with the project's CLI parser and settings and name config files that exist, and, with
  Databricks paths and MLflow URIs mapped to a temporary folder, it runs on the shipped data
  through the installed package's entry point, called the way a python_wheel_task calls it;
  the bundle's artifact command builds exactly the one wheel its tasks install.
- Drift retrains with the jobs' own tasks: `retrain_on_drift` runs `drift_monitor` and, when it
  fails, `training` (run_job_task, run_if ALL_FAILED); run locally the way Databricks runs it, a
  drifted inference table retrains and promotes, a clean one does not.
- The Spark scoring path runs for real on a local Spark session (`make databricks-test`).

What needs a workspace (`databricks bundle validate/deploy`, OIDC, Unity Catalog) runs in the
generated workflow, not here.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from databricks.bundles.jobs import Job
from databricks.bundles.volumes import Volume

from conftest import (
    DATABRICKS_FILES,
    assert_bundles_match_the_schema,
    bundle_files,
    check_bundle_schema,
    makefile,
    project_files,
    run_command,
)

NODE_TYPES = {"aws": "i3.xlarge", "azure": "Standard_D3_v2", "gcp": "n1-standard-4"}
HOST = "https://adb-1234567890123456.7.azuredatabricks.net"
VARIANTS: dict[str, dict[str, Any]] = {
    "serverless": {},
    **{
        cloud: {"databricks_compute": "job_clusters", "databricks_cloud": cloud}
        for cloud in NODE_TYPES
    },
}
# One job-cluster variant also answers the workspace, catalog and schema questions.
VARIANTS["azure"] |= {
    "databricks_host": f"{HOST}/",
    "databricks_catalog": "ml",
    "databricks_schema": "churn",
}
JOBS = ("training", "batch_predict", "drift_monitor")  # wheel-task jobs, in the order they run
RETRAIN = "retrain_on_drift"  # runs two of them (run_job_task): no task or compute of its own
PACKAGE = "my-ml-project"

Run = Callable[..., subprocess.CompletedProcess[str]]


# --- rendering and reading bundles -------------------------------------------------------------


@pytest.fixture(scope="module")
def variants(copie_session: Any) -> dict[str, Path]:
    """Every compute variant (and a host answer) rendered once for the module."""
    projects = {}
    for name, answers in VARIANTS.items():
        result = copie_session.copy(
            extra_answers={"platforms": ["databricks"], **answers}, vcs_ref="HEAD"
        )
        assert result.exit_code == 0, result.exception
        projects[name] = Path(result.project_dir)
    return projects


def load_bundle(project: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """databricks.yml, and the `resources` of every included file merged by type."""
    root = yaml.safe_load((project / "databricks.yml").read_text())
    assert root["include"] == ["resources/*.yml"]
    resources: dict[str, dict[str, Any]] = {}
    for path in bundle_files(project)[1:]:
        document = yaml.safe_load(path.read_text())
        assert set(document) == {"resources"}, path.name
        for kind, items in document["resources"].items():
            assert not set(items) & set(resources.get(kind, {})), f"{path.name}: duplicate"
            resources.setdefault(kind, {}).update(items)
    return root, resources


def tasks(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's tasks in an order that respects depends_on."""
    pending, done, ordered = list(job["tasks"]), set(), []
    while pending:
        ready = [t for t in pending if {d["task_key"] for d in t.get("depends_on", [])} <= done]
        assert ready, f"cycle or unknown dependency in {[t['task_key'] for t in pending]}"
        for task in ready:
            ordered.append(task)
            done.add(task["task_key"])
            pending.remove(task)
    return ordered


# --- references: what the CLI substitutes at deploy time, mapped to local values ---------------

REFERENCE = re.compile(r"\$\{([\w.]+)\}")
JOB_PARAMETER = re.compile(r"\{\{job\.parameters\.(\w+)\}\}")


def references(project: Path, target: str) -> dict[str, str]:
    """The values of `${...}` references for `target`, as a deploy would resolve them."""
    root, resources = load_bundle(project)
    values = {name: spec.get("default") for name, spec in root["variables"].items()}
    values.update(root["targets"][target].get("variables", {}))
    refs = {f"var.{name}": str(value) for name, value in values.items()}
    refs |= {
        "bundle.name": root["bundle"]["name"],
        "bundle.target": target,
        "workspace.file_path": str(project),  # the synced project files
        "workspace.current_user.userName": "someone@example.com",
    }
    for kind, items in resources.items():
        for key, spec in items.items():
            refs |= {f"resources.{kind}.{key}.{f}": str(v) for f, v in spec.items()}
    for number, key in enumerate(resources["jobs"], start=1):  # a job's id: a number, once deployed
        refs[f"resources.jobs.{key}.id"] = str(number)
    model = resources["registered_models"]["model"]  # a Unity Catalog model's id: its full name
    refs["resources.registered_models.model.id"] = "{catalog_name}.{schema_name}.{name}".format(
        **model
    )
    return refs


def resolve(text: str, refs: dict[str, str]) -> str:
    """Substitute references until none is left; an unknown one fails the test."""
    for _ in range(10):
        unknown = {m for m in REFERENCE.findall(text) if m not in refs}
        assert not unknown, f"unknown reference(s) {unknown} in {text!r}"
        text, count = REFERENCE.subn(lambda m: refs[m[1]], text)
        if not count:
            return text
    pytest.fail(f"references do not resolve: {text!r}")


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


# --- the bundle's own checkers -----------------------------------------------------------------


def test_every_variant_passes_the_bundle_schema(variants: dict[str, Path]) -> None:
    files = [path for project in variants.values() for path in bundle_files(project)]
    assert len(files) == len(VARIANTS) * (1 + 7)
    assert_bundles_match_the_schema(files)


def test_the_schema_check_refuses_a_broken_bundle(
    variants: dict[str, Path], tmp_path: Path
) -> None:
    """Negative control: an unknown key, a wrong type, a misspelt section."""
    job = yaml.safe_load((variants["serverless"] / "resources/training.job.yml").read_text())
    broken = {
        "unknown-key.yml": ("tasks", lambda j: j["tasks"][0].update(entrypoint="x")),
        "wrong-type.yml": ("timeout", lambda j: j.update(timeout_seconds="an hour")),
        "bad-enum.yml": ("run_if", lambda j: j["tasks"][1].update(run_if="SOMETIMES")),
    }
    for name, (_, breaks) in broken.items():
        document = copy.deepcopy(job)
        breaks(document["resources"]["jobs"]["training"])
        (tmp_path / name).write_text(yaml.safe_dump(document))
    (tmp_path / "misspelt.yml").write_text(
        "bundle: {name: x}\ntargets: {dev: {mod: development}}\n"
    )
    files = sorted(tmp_path.glob("*.yml"))
    proc = check_bundle_schema("--output-format", "json", *files)
    assert proc.returncode == 1
    failed = {Path(error["filename"]).name for error in json.loads(proc.stdout)["errors"]}
    assert failed == {path.name for path in files}


def test_every_job_loads_strictly_with_the_typed_classes(variants: dict[str, Path]) -> None:
    for name, project in variants.items():
        _, resources = load_bundle(project)
        assert set(resources["jobs"]) == {*JOBS, RETRAIN}, name
        for key, spec in resources["jobs"].items():
            job = Job.from_dict(spec)
            assert [t.task_key for t in job.tasks] == [t["task_key"] for t in spec["tasks"]], key
        Volume.from_dict(resources["volumes"]["data"])

    # Negative control: the same classes refuse what a typo or an API change would produce.
    spec = load_bundle(variants["serverless"])[1]["jobs"]["training"]
    for breaks, error in [
        (lambda j: j["tasks"][0]["python_wheel_task"].update(entrypoint="x"), "Unexpected field"),
        (lambda j: j["tasks"][0]["python_wheel_task"].pop("package_name"), "package_name"),
        (lambda j: j["tasks"][1].update(run_if="SOMETIMES"), "not a valid RunIf"),
    ]:
        broken = copy.deepcopy(spec)
        breaks(broken)
        with pytest.raises((TypeError, ValueError), match=error):
            Job.from_dict(broken)


def test_every_reference_resolves(variants: dict[str, Path]) -> None:
    """A misspelt `${var.x}` or resource key fails here, not at deploy time."""
    for project in variants.values():
        root, resources = load_bundle(project)
        for target in root["targets"]:
            refs = references(project, target)
            for text in strings([root, resources]):
                resolve(text, refs)


# --- what the bundle says -----------------------------------------------------------------------


def test_bundle_follows_the_cli_default_template(variants: dict[str, Path]) -> None:
    root, _ = load_bundle(variants["serverless"])
    assert root["bundle"] == {"name": PACKAGE}
    assert root["artifacts"] == {
        "python_artifact": {"type": "whl", "build": "uv build --wheel --clear"}
    }
    variables = {name: spec.get("default") for name, spec in root["variables"].items()}
    assert variables == {
        "catalog": "main",
        "schema": "my_ml_project",
        "volume": "data",
        "model": "my_ml_project",
        "model_readers": "account users",
        "service_principal": "",  # given at deploy time, never written in a file
    }
    dev, prod = root["targets"]["dev"], root["targets"]["prod"]
    assert (dev["mode"], dev["default"], dev["variables"]) == (
        "development",
        True,
        {"schema": "my_ml_project_dev"},
    )
    assert "workspace" not in dev  # no host answer: the CLI profile or DATABRICKS_HOST decides
    assert prod["mode"] == "production"
    assert "default" not in prod
    root_path = "/Workspace/Users/${var.service_principal}/.bundle/${bundle.name}/${bundle.target}"
    assert prod["workspace"] == {"root_path": root_path}
    assert prod["run_as"] == {"service_principal_name": "${var.service_principal}"}

    root, _ = load_bundle(variants["azure"])
    assert root["targets"]["dev"]["workspace"] == {"host": HOST}
    assert root["targets"]["prod"]["workspace"]["host"] == HOST
    assert root["variables"]["catalog"]["default"] == "ml"
    assert root["targets"]["dev"]["variables"] == {"schema": "churn_dev"}


def test_jobs_run_the_package_cli_with_databricks_paths_and_tracking(
    variants: dict[str, Path],
) -> None:
    project = variants["serverless"]
    _, resources = load_bundle(project)
    scripts = tomllib.loads((project / "pyproject.toml").read_text())["project"]["scripts"]
    jobs = resources["jobs"]
    assert [t["task_key"] for t in tasks(jobs["training"])] == ["data", "train", "evaluate"]
    assert [t.get("depends_on") for t in jobs["training"]["tasks"]] == [
        None,
        [{"task_key": "data"}],
        [{"task_key": "train"}],
    ]
    assert "schedule" not in jobs["training"]
    for key in ("batch_predict", "drift_monitor", RETRAIN):
        assert jobs[key]["schedule"]["quartz_cron_expression"], key
    volume = "/Volumes/${var.catalog}/${var.schema}/${var.volume}/"
    for key in JOBS:
        for task in jobs[key]["tasks"]:
            wheel = task["python_wheel_task"]
            assert wheel["package_name"] == PACKAGE
            assert wheel["entry_point"] in scripts
            name, flag, config, *overrides = wheel["parameters"]
            assert (flag, config) == ("--config", f"${{workspace.file_path}}/configs/{name}.yaml")
            assert (project / "configs" / f"{name}.yaml").is_file(), name
            assert overrides[::2] == ["--set"] * (len(overrides) // 2), f"{key}.{name}"
            settings = dict(pair.split("=", 1) for pair in overrides[1::2])
            for setting, value in settings.items():
                if setting.endswith(("_path", "_dir")):
                    assert value.startswith(volume), f"{key}.{name}: {setting}={value}"
            if "tracking.uri" in settings or "model_uri" in settings:
                assert settings["tracking.uri"] == "databricks"
                assert settings["tracking.registry_uri"] == "databricks-uc"
            if "model_uri" in settings:
                model = "models:/${resources.registered_models.model.id}@"
                assert settings["model_uri"].startswith(model)

    # Drift retrains: the drift check, then training only when the check's run failed.
    check, retrain = tasks(jobs[RETRAIN])
    assert check == {
        "task_key": "monitor",
        "run_job_task": {"job_id": "${resources.jobs.drift_monitor.id}"},
    }
    assert retrain == {
        "task_key": "retrain",
        "depends_on": [{"task_key": "monitor"}],
        "run_if": "ALL_FAILED",
        "run_job_task": {"job_id": "${resources.jobs.training.id}"},
    }
    hour = {
        k: int(jobs[k]["schedule"]["quartz_cron_expression"].split()[2])
        for k in jobs
        if k != "training"
    }
    assert hour[RETRAIN] > hour["drift_monitor"]  # after the check that alerts on its own
    assert jobs["batch_predict"]["parameters"] == [
        {"name": "input_table", "default": ""},
        {"name": "output_table", "default": ""},
    ]

    model = resources["registered_models"]["model"]
    assert model["grants"] == [{"principal": "${var.model_readers}", "privileges": ["EXECUTE"]}]
    assert (model["catalog_name"], model["schema_name"]) == ("${var.catalog}", "${var.schema}")
    assert resources["experiments"]["training"]["name"].startswith("/Users/")


def test_compute_follows_the_answers(variants: dict[str, Path]) -> None:
    parameters = {}
    for name, project in variants.items():
        root, resources = load_bundle(project)
        for key, job in resources["jobs"].items():
            if key == RETRAIN:  # it only starts other jobs: no compute of its own
                assert all("run_job_task" in task for task in job["tasks"])
                assert not {"environments", "job_clusters"} & set(job), name
                assert not any(
                    {"environment_key", "job_cluster_key"} & set(t) for t in job["tasks"]
                )
                continue
            for task in job["tasks"]:
                if name == "serverless":
                    assert task["environment_key"] == "default"
                    assert "libraries" not in task
                else:
                    assert task["job_cluster_key"] == "default"
                    assert task["libraries"] == [{"whl": "../dist/*.whl"}]
            if name == "serverless":
                assert job["environments"] == [
                    {
                        "environment_key": "default",
                        "spec": {"environment_version": "4", "dependencies": ["../dist/*.whl"]},
                    }
                ]
                assert "job_clusters" not in job
            else:
                (cluster,) = job["job_clusters"]
                assert cluster["new_cluster"]["node_type_id"] == "${var.node_type}"
                assert cluster["new_cluster"]["spark_version"] == "${var.spark_version}"
                assert "environments" not in job
            parameters[name, key] = [t["python_wheel_task"] for t in job["tasks"]]
        if name in NODE_TYPES:
            assert root["targets"]["dev"]["presets"] == {"artifacts_dynamic_version": True}
            assert root["variables"]["node_type"]["default"] == NODE_TYPES[name]
            assert root["variables"]["spark_version"]["default"] == "17.3.x-scala2.13"
        elif name == "serverless":
            assert not {"node_type", "spark_version"} & set(root["variables"])
            assert "presets" not in root["targets"]["dev"]
    # Only the compute differs between the variants: every task runs the same command.
    for (_, key), wheel_tasks in parameters.items():
        assert wheel_tasks == parameters["serverless", key]


# --- the workflow ------------------------------------------------------------------------------


def test_workflow_validates_pull_requests_and_deploys_main_with_oidc(
    variants: dict[str, Path],
) -> None:
    project = variants["serverless"]
    workflow = yaml.safe_load((project / ".github/workflows/databricks-bundle.yml").read_text())
    assert workflow[True] == {"push": {"branches": ["main"]}, "pull_request": None}  # `on`
    jobs = workflow["jobs"]
    assert set(jobs) == {"spark", "validate", "deploy"}
    assert jobs["spark"]["permissions"] == {"contents": "read"}
    assert "pull_request" in jobs["validate"]["if"]
    assert "head.repo.full_name == github.repository" in jobs["validate"]["if"]
    assert jobs["deploy"]["if"] == "github.event_name == 'push'"
    assert jobs["deploy"]["needs"] == "spark"
    targets = set(re.findall(r"^([a-zA-Z][\w-]*):", makefile(project), flags=re.MULTILINE))
    environments = {"validate": "databricks-validate", "deploy": "databricks-prod"}
    for name, environment in environments.items():
        job = jobs[name]
        assert job["environment"] == {"name": environment}
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        assert job["env"]["DATABRICKS_AUTH_TYPE"] == "github-oidc"  # no token, no PAT
        assert job["env"]["DATABRICKS_CLIENT_ID"] == "${{ secrets.DATABRICKS_CLIENT_ID }}"
        uses = [s["uses"].split("@")[0] for s in job["steps"] if "uses" in s]
        assert "databricks/setup-cli" in uses
    runs = {name: [s["run"] for s in job["steps"] if "run" in s] for name, job in jobs.items()}
    assert runs == {
        "spark": ["make install databricks-test"],
        "validate": ["make databricks-validate ENV=prod"],
        "deploy": ["make databricks-deploy ENV=prod"],
    }
    assert {word for cmds in runs.values() for c in cmds for word in c.split()[1:]} - {
        "ENV=prod"
    } <= targets
    text = (project / ".github/workflows/databricks-bundle.yml").read_text()
    assert "DATABRICKS_TOKEN" not in text
    assert "CLIENT_SECRET" not in text


def test_make_targets_call_the_cli_or_say_how_to_install_it(
    variants: dict[str, Path], tmp_path: Path, project_env: dict[str, str]
) -> None:
    project = variants["serverless"]
    env = {**project_env, "PATH": os.pathsep.join([str(tmp_path), project_env["PATH"]])}
    missing = run_command(
        ["make", "databricks-validate", "DATABRICKS=databricks-not-installed"],
        project,
        env,
        check=False,
    )
    assert missing.returncode != 0
    assert "The databricks CLI is not installed" in missing.stdout
    assert "https://docs.databricks.com/dev-tools/cli/install.html" in missing.stdout

    fake = tmp_path / "databricks"
    calls = tmp_path / "calls.txt"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    fake.chmod(0o755)
    for args in (
        ["databricks-validate"],
        ["databricks-deploy", "ENV=prod"],
        ["databricks-run"],
        ["databricks-run", "JOB=batch_predict"],
    ):
        run_command(["make", "--no-print-directory", *args], project, env)
    assert calls.read_text().splitlines() == [
        "bundle validate --target dev",
        "bundle deploy --target prod",
        "bundle run --target dev training",
        "bundle run --target dev batch_predict",
    ]


# --- the answers -------------------------------------------------------------------------------


def test_without_databricks_nothing_of_it_is_rendered(copie_session: Any) -> None:
    result = copie_session.copy(extra_answers={"platforms": []}, vcs_ref="HEAD")
    assert result.exit_code == 0, result.exception
    project = Path(result.project_dir)
    assert not project_files(project) & DATABRICKS_FILES
    assert not (project / "resources").exists()
    for path in project.rglob("*"):
        if path.is_file():
            text = path.read_text()
            for trace in ("spark", "databricks-uc", "input_table", "bundle-", ".databricks"):
                if path.name == ".dockerignore" and trace == ".databricks":
                    continue  # its CLI's credentials stay out of every image, on purpose
                assert trace not in text.lower(), f"{path.relative_to(project)}: {trace}"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert not {key for key in answers if key.startswith("databricks")}


def test_databricks_adds_exactly_its_files(variants: dict[str, Path], copie_session: Any) -> None:
    result = copie_session.copy(extra_answers={}, vcs_ref="HEAD")
    default = project_files(Path(result.project_dir))
    assert project_files(variants["serverless"]) == default | DATABRICKS_FILES


# --- the rendered project, installed -----------------------------------------------------------


def need_java() -> None:
    """Local Spark needs Java 17+: skip locally without it, fail in CI (.ci/run installs it)."""
    java = shutil.which("java")
    version = (
        subprocess.run(
            [java or "java", "-version"], capture_output=True, text=True, check=False
        ).stderr
        if java
        else ""
    )
    match = re.search(r'version "(\d+)', version)
    if match and int(match[1]) >= 17:
        return
    problem = f"local Spark needs Java 17 or newer (found: {version.strip() or 'none'})"
    if os.environ.get("CI"):
        pytest.fail(problem)
    pytest.skip(problem)


@pytest.fixture(scope="module")
def installed(variants: dict[str, Path], run: Run) -> Path:
    project = variants["serverless"]
    run(["make", "install"], cwd=project)
    return project


@pytest.mark.slow
def test_databricks_project_is_green_with_spark_scoring(installed: Path, run: Run) -> None:
    """`make lint test`, then `make databricks-test`: Spark scores a table as the file path does."""
    need_java()
    run(["make", "lint", "test"], cwd=installed)
    out = run(["make", "databricks-test"], cwd=installed).stdout
    assert re.search(r"\b7 passed, \d+ deselected\b", out), out[-2000:]  # no skip


# Runs an entry point the way the databricks CLI's python_wheel_task wrapper does
# (bundle/trampoline/python_wheel.go): look it up in the distribution's metadata, set
# sys.argv, call it and ignore what it returns.
WHEEL_TASK = """
import sys
from importlib import metadata

package, entry_point, *parameters = sys.argv[1:]
sys.argv = [package, *parameters]
entry = [e for e in metadata.distribution(package).entry_points if e.name == entry_point]
entry[0].load()()
"""


@pytest.fixture(scope="module")
def entry_python(installed: Path, run: Run) -> Path:
    """The project's interpreter, after the bundle's artifact command built exactly one wheel."""
    root, _ = load_bundle(installed)
    (installed / "dist").mkdir(exist_ok=True)
    (installed / "dist" / "my_ml_project-0.0.1-py3-none-any.whl").write_bytes(b"stale")
    run(root["artifacts"]["python_artifact"]["build"].split(), cwd=installed)
    wheels = [w.name for w in (installed / "dist").glob("*.whl")]  # what `../dist/*.whl` uploads
    assert wheels == ["my_ml_project-0.1.0-py3-none-any.whl"]  # a stale wheel would go too
    return installed / ".venv" / "bin" / "python"


def local_tasks(project: Path, workdir: Path) -> list[tuple[str, dict[str, Any], list[str]]]:
    """Every task of the dev target with references resolved and Databricks mapped to workdir."""
    refs = references(project, "dev")
    store = f"sqlite:///{workdir}/mlflow.db"
    databricks = {"tracking.uri=databricks": f"tracking.uri={store}"}
    databricks["tracking.registry_uri=databricks-uc"] = f"tracking.registry_uri={store}"
    _, resources = load_bundle(project)
    mapped = []
    for key in JOBS:
        job = resources["jobs"][key]
        defaults = {p["name"]: p["default"] for p in job.get("parameters", [])}
        for task in tasks(job):
            parameters = []
            for parameter in task["python_wheel_task"]["parameters"]:
                value = resolve(parameter, refs)
                value = JOB_PARAMETER.sub(lambda m, d=defaults: d[m[1]], value)
                value = databricks.get(value, value).replace("/Volumes/", f"{workdir}/Volumes/")
                parameters.append(value)
            mapped.append((f"{key}.{task['task_key']}", task["python_wheel_task"], parameters))
    return mapped


@pytest.mark.slow
def test_every_task_parses_with_the_projects_cli(installed: Path, tmp_path: Path) -> None:
    """Parameters parse with the project's parser and settings; configs exist."""
    check = """
import json, sys
from my_ml_project.cli import JOBS, build_parser

for name, parameters in json.loads(sys.stdin.read()):
    args = build_parser().parse_args(parameters)
    assert args.config.is_file(), (name, args.config)
    JOBS[args.job][0].load(args.config, args.overrides)  # settings: unknown keys are errors
    print(name, args.job)
"""
    mapped = [(name, parameters) for name, _, parameters in local_tasks(installed, tmp_path)]
    proc = subprocess.run(
        [str(installed / ".venv/bin/python"), "-c", check],
        input=json.dumps(mapped),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(proc.stdout.splitlines()) == len(mapped) == 5


@pytest.mark.slow
def test_every_task_runs_locally_as_a_wheel_task(
    installed: Path, entry_python: Path, tmp_path: Path, project_env: dict[str, str]
) -> None:
    """training (data -> train -> evaluate), batch_predict and drift_monitor, in that order;
    then retrain_on_drift, on the clean inference table and on a drifted one."""
    workdir = tmp_path / "cwd"  # the task's working folder: nothing may depend on it
    workdir.mkdir()
    env = {k: v for k, v in project_env.items() if not k.startswith("MLFLOW_")}
    mapped = local_tasks(installed, tmp_path)

    def run_task(name: str, wheel: dict[str, Any], parameters: list[str]) -> bool:
        args = [str(entry_python), "-c", WHEEL_TASK, wheel["package_name"], wheel["entry_point"]]
        proc = run_command([*args, *parameters], workdir, env, check=False, timeout=600)
        assert proc.returncode in (0, 1), f"{name}\n{proc.stderr[-3000:]}"
        return proc.returncode == 0

    for name, wheel, parameters in mapped:
        assert run_task(name, wheel, parameters), name

    volume = tmp_path / "Volumes/main/my_ml_project_dev/data"
    assert {p.relative_to(volume).as_posix() for p in volume.rglob("*") if p.is_file()} == {
        "data/train.csv",
        "data/test.csv",
        "data/inference.csv",
        "artifacts/train_metrics.json",
        "artifacts/evaluate_metrics.json",
        "artifacts/evaluate_report.html",
        "artifacts/model_card.md",
        "artifacts/drift_report.json",
        "artifacts/drift_report.html",
        "predictions/predictions.csv",
    }
    assert json.loads((volume / "artifacts/evaluate_metrics.json").read_text())["promoted"]
    assert len((volume / "predictions/predictions.csv").read_text().splitlines()) == 1 + 114

    # A failing job fails the task although the wrapper ignores the entry point's return value.
    name, wheel, parameters = next(t for t in mapped if t[0] == "training.evaluate")
    args = [str(entry_python), "-c", WHEEL_TASK, wheel["package_name"], wheel["entry_point"]]
    failed = run_command(
        [*args, *parameters, "--set", "promotion.threshold=2"],
        workdir,
        env,
        check=False,
        timeout=600,
    )
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "evaluate failed: roc_auc" in failed.stderr

    # retrain_on_drift as Databricks runs it: each run_job_task runs that job's tasks in order up
    # to the first failure; `retrain` (run_if ALL_FAILED) runs only when `monitor` failed.
    chain = load_bundle(installed)[1]["jobs"][RETRAIN]

    def run_retrain_on_drift() -> dict[str, bool]:
        succeeded: dict[str, bool] = {}
        for task in tasks(chain):
            needs = [d["task_key"] for d in task.get("depends_on", [])]
            if task.get("run_if") == "ALL_FAILED" and any(succeeded[n] for n in needs):
                continue  # excluded
            job = re.fullmatch(r"\$\{resources\.jobs\.(\w+)\.id\}", task["run_job_task"]["job_id"])
            assert job, task
            succeeded[task["task_key"]] = all(
                run_task(*t) for t in mapped if t[0].startswith(f"{job[1]}.")
            )
        return succeeded

    evaluation = volume / "artifacts/evaluate_metrics.json"
    version = json.loads(evaluation.read_text())["model_version"]
    assert run_retrain_on_drift() == {"monitor": True}  # no drift: retrain is excluded
    assert json.loads(evaluation.read_text())["model_version"] == version

    inference = volume / "data/inference.csv"
    with inference.open(newline="") as file:
        rows = list(csv.DictReader(file))
    with inference.open("w", newline="") as file:
        writer = csv.DictWriter(file, list(rows[0]))
        writer.writeheader()
        writer.writerows(
            {k: v if k == "sample_id" else str(float(v) * 3) for k, v in row.items()}
            for row in rows
        )
    assert run_retrain_on_drift() == {"monitor": False, "retrain": True}
    retrained = json.loads(evaluation.read_text())
    assert int(retrained["model_version"]) == int(version) + 1
    assert retrained["promoted"] is True
