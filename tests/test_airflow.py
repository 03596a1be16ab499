"""The Airflow orchestrator, proven in a real Airflow: DagBag imports, a local run, offline pods.

Airflow is installed once for the module, from a rendered project's own dags/pyproject.toml
(with the Kubernetes provider, a superset of what every answer set needs), into that project's
dags/.venv; every rendered DAG is imported by one DagBag process in it. The end-to-end run uses
the project's own `make airflow-run` (its own dags/.venv) and compares what it leaves with what
`make pipeline` leaves. With Kubernetes, each task's pod is built offline by the operator
(`build_pod_request_obj(dry_run=True)`) and held to the manifests' own lockdown checks.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
import tomllib
from collections.abc import Callable
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import (
    AIRFLOW_FILES,
    KUBERNETES_VERSIONS,
    kubernetes_validate,
    makefile,
    project_files,
    run_command,
)
from test_kubernetes import IMAGES, NAMESPACES, cli_call_problems, pod_problems

Run = Callable[..., subprocess.CompletedProcess[str]]

DAG_ID = "my_ml_project"
SLUG = "my-ml-project"
JOBS = ["data", "train", "evaluate", "predict", "monitor"]
PLATFORMS = ("databricks", "sagemaker", "kubernetes")
NEEDS_THE_IMAGE = {"sagemaker", "kubernetes"}  # copier refuses them with use_docker=false

# Run in Airflow's environment: import every DAG folder given with a DagBag (as the DAG processor
# does, no database) and report its import errors, tasks and, for pod tasks, the pod each would
# create, built offline.
DAG_REPORT = """
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import DagBag

out, *folders = sys.argv[1:]
report = {}
for folder in folders:
    bag = DagBag(dag_folder=folder)
    entry = report[folder] = {
        "errors": {str(path): error for path, error in bag.import_errors.items()},
        "dags": {},
    }
    for dag in bag.dags.values():
        tasks = {}
        for task in dag.tasks:
            info = tasks[task.task_id] = {
                "operator": type(task).__name__,
                "upstream": sorted(task.upstream_task_ids),
                "retries": task.retries,
                "timeout": task.execution_timeout and task.execution_timeout.total_seconds(),
            }
            if info["operator"] == "BashOperator":
                info["bash_command"], info["cwd"] = task.bash_command, task.cwd
            if info["operator"] == "KubernetesPodOperator":
                from kubernetes.client import ApiClient
                pod = task.build_pod_request_obj(dry_run=True)
                info["pod"] = ApiClient().sanitize_for_serialization(pod)
        entry["dags"][dag.dag_id] = {"schedule": str(dag.schedule), "tasks": tasks}
Path(out).write_text(json.dumps(report))
"""


def answer_sets() -> list[dict[str, Any]]:
    """orchestrator=airflow with every subset of the platforms and both use_docker answers."""
    sets = []
    for size in range(len(PLATFORMS) + 1):
        for platforms in combinations(PLATFORMS, size):
            for use_docker in (True, False):
                if use_docker or not NEEDS_THE_IMAGE & set(platforms):
                    sets.append(
                        {
                            "orchestrator": "airflow",
                            "platforms": list(platforms),
                            "use_docker": use_docker,
                        }
                    )
    return sets


def render(copie_session: Any, **answers: Any) -> Path:
    result = copie_session.copy(extra_answers=answers, vcs_ref="HEAD")
    assert result.exit_code == 0, result.exception
    return Path(result.project_dir)


def key(answers: dict[str, Any]) -> str:
    return "+".join(answers["platforms"]) + ("" if answers["use_docker"] else " no-docker")


@pytest.fixture(scope="module")
def kubernetes_project(copie_session: Any) -> Path:
    return render(copie_session, orchestrator="airflow", platforms=["kubernetes"])


@pytest.fixture(scope="module")
def airflow_python(kubernetes_project: Path, run: Run) -> Path:
    """Airflow and the Kubernetes provider as a generated project pins them, installed once."""
    run(["uv", "sync", "--project", "dags"], cwd=kubernetes_project)
    return kubernetes_project / "dags" / ".venv" / "bin" / "python"


@pytest.fixture(scope="module")
def dag_folders(
    copie_session: Any, kubectl: str, run: Run, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[dict[str, Any], Path]]:
    """Every answer set's dags/ (Kubernetes: the dev overlay's pods), plus two more folders.

    "prod": the Kubernetes DAG with the prod overlay's manifests; "no manifests": the
    Kubernetes DAG before `make airflow-pods`, which must not import.
    """
    folders = {}
    for answers in answer_sets():
        project = render(copie_session, **answers)
        folders[key(answers)] = (answers, project / "dags")
    answers, dags = folders["kubernetes"]
    extra = tmp_path_factory.mktemp("dag-folders")
    for name, overlay in (("prod", "prod"), ("no manifests", None)):
        folder = extra / name.replace(" ", "-")
        folder.mkdir()
        shutil.copy(dags / f"{DAG_ID}.py", folder)
        if overlay:
            run(["make", "airflow-pods", f"ENV={overlay}", f"KUBECTL={kubectl}"], cwd=dags.parent)
            shutil.copy(dags / f"{DAG_ID}.k8s.yaml", folder)
        folders[name] = (answers, folder)
    for answers, dags in folders.values():
        if "kubernetes" in answers["platforms"] and dags.name == "dags":
            run(["make", "airflow-pods", f"KUBECTL={kubectl}"], cwd=dags.parent)  # ENV=dev
    return folders


@pytest.fixture(scope="module")
def report(
    airflow_python: Path,
    dag_folders: dict[str, tuple[dict[str, Any], Path]],
    project_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """DAG_REPORT of every folder, in one Airflow process; keyed like `dag_folders`."""
    out = tmp_path_factory.mktemp("dag-report") / "report.json"
    folders = [str(dags) for _, dags in dag_folders.values()]
    run_command(
        [str(airflow_python), "-c", DAG_REPORT, str(out), *folders], out.parent, project_env
    )
    by_folder = json.loads(out.read_text())
    return {name: by_folder[str(dags)] for name, (_, dags) in dag_folders.items()}


# --- the DAG imports, with its tasks in order, for every answer set -----------------------------


def test_the_dag_imports_with_its_tasks_in_order_for_every_answer_set(
    dag_folders: dict[str, tuple[dict[str, Any], Path]], report: dict[str, Any]
) -> None:
    sets = {name: answers for name, (answers, dags) in dag_folders.items() if dags.name == "dags"}
    assert len(sets) == 10
    for name, answers in sets.items():
        entry = report[name]
        assert entry["errors"] == {}, name
        assert list(entry["dags"]) == [DAG_ID], name
        dag = entry["dags"][DAG_ID]
        assert dag["schedule"] == "0 2 * * *"
        tasks = dag["tasks"]
        assert list(tasks) == JOBS, name
        # One chain, in the order `make pipeline` runs the jobs.
        assert [tasks[job]["upstream"] for job in JOBS] == [[], *([job] for job in JOBS[:-1])]
        assert all(tasks[job]["timeout"] > 0 for job in JOBS), name
        assert [tasks[job]["retries"] for job in JOBS] == [2, 2, 2, 2, 0], name
        on_kubernetes = "kubernetes" in answers["platforms"]
        operator = "KubernetesPodOperator" if on_kubernetes else "BashOperator"
        assert {t["operator"] for t in tasks.values()} == {operator}, name
        if not on_kubernetes:  # the installed CLI, in the project, with the job's config
            project = dag_folders[name][1].parent
            cli = project / ".venv" / "bin" / SLUG
            for job in JOBS:
                command = f"exec {cli} {job} --config configs/{job}.yaml"
                assert tasks[job]["bash_command"] == command, name
                assert tasks[job]["cwd"] == str(project), name


def test_a_dag_that_does_not_import_is_reported(report: dict[str, Any]) -> None:
    """The negative control of the import check, and the pods' clear error without manifests."""
    assert report["no manifests"]["dags"] == {}
    (error,) = report["no manifests"]["errors"].values()
    assert f"{DAG_ID}.k8s.yaml is missing: run `make airflow-pods ENV=<overlay>`" in error


# --- with kubernetes: the pods the tasks create -------------------------------------------------


def test_each_task_pod_is_its_cronjob_container_and_passes_the_manifests_lockdown(
    dag_folders: dict[str, tuple[dict[str, Any], Path]],
    report: dict[str, Any],
    local_project: Path,
    tmp_path: Path,
) -> None:
    problems: list[str] = []
    cli_calls = []
    pod_files = []
    config_keys: set[str] = set()
    for overlay, name in (("dev", "kubernetes"), ("prod", "prod")):
        manifests = dag_folders[name][1] / f"{DAG_ID}.k8s.yaml"
        docs = [d for d in yaml.safe_load_all(manifests.read_text()) if d]
        tasks = report[name]["dags"][DAG_ID]["tasks"]
        pods = {job: tasks[job]["pod"] for job in JOBS}

        configmaps = {
            d["metadata"]["name"].rsplit("-", 1)[0]: d for d in docs if d["kind"] == "ConfigMap"
        }
        config_keys = set(configmaps["configs"]["data"])
        cronjob_containers = {
            str(c["args"][0]): c
            for d in docs
            if d["kind"] == "CronJob"
            for spec in [d["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
            for c in [*spec.get("initContainers", []), *spec["containers"]]
        }
        for job, pod in pods.items():
            where = f"{overlay}: pod of task {job}"
            assert pod["kind"] == "Pod"
            assert pod["metadata"]["namespace"] == NAMESPACES[overlay], where
            found, calls = pod_problems(
                where,
                pod,
                image=IMAGES[overlay],
                configs=configmaps["configs"]["metadata"]["name"],
                tracking=configmaps["mlflow-tracking"]["metadata"]["name"],
            )
            problems += found
            cli_calls += calls
            # Derived from the CronJob's container, not a second spec: equal but for the name
            # (Airflow's `base`), and predict runs unsharded.
            (container,) = pod["spec"]["containers"]
            assert pod["spec"]["initContainers"] == [], where
            source = cronjob_containers[job]
            for field in ("image", "command", "env", "resources", "securityContext"):
                assert container.get(field) == source.get(field), f"{where}: {field}"
            assert container["volumeMounts"] == source["volumeMounts"], where
            assert container.get("envFrom", []) == source.get("envFrom", []), where
            assert container["workingDir"] == source["workingDir"], where
            args = [str(a) for a in source["args"]]
            if job == "predict":
                shards = {"dev": 2, "prod": 4}[overlay]
                assert args[-2:] == ["--set", f"shard_count={shards}"], where
                args = args[:-2]
            assert container["args"] == args, where
            assert pod["spec"]["restartPolicy"] == "Never", where
        pod_files.append(tmp_path / f"pods-{overlay}.yaml")
        pod_files[-1].write_text(yaml.safe_dump_all(list(pods.values())))

    found, jobs = cli_call_problems(local_project, cli_calls, config_keys)
    assert jobs == set(JOBS)
    assert not problems + found, "\n".join(problems + found)

    # The checks can fail: a pod that may run as root is caught.
    pod = next(yaml.safe_load_all(pod_files[0].read_text()))
    del pod["spec"]["securityContext"]["runAsNonRoot"]
    found, _ = pod_problems("control", pod, image=IMAGES["dev"], configs="", tracking="")
    assert "control: runAsNonRoot" in found

    # The pods validate against the Kubernetes schemas, strictly; a misspelt field does not.
    control = tmp_path / "invalid-pod.yaml"
    text = pod_files[0].read_text()
    control.write_text(text.replace("readOnlyRootFilesystem:", "readOnlyRootFS:"))
    for version in KUBERNETES_VERSIONS:
        errors = kubernetes_validate([*pod_files, control], version)
        assert errors, version
        assert all(str(control) in line for line in errors), "\n".join(errors)


# --- `airflow dags test`: the whole DAG on this machine -----------------------------------------


@pytest.fixture(scope="module")
def local_project(copie_session: Any, run: Run) -> Path:
    """orchestrator=airflow without Kubernetes, after `make install`: tasks run its CLI."""
    project = render(copie_session, orchestrator="airflow")
    run(["make", "install"], cwd=project)
    return project


def outputs(project: Path) -> dict[str, Any]:
    """What the jobs leave: the files of data/ and artifacts/, and the model registry."""
    files = {
        p.relative_to(project).as_posix(): p.read_bytes()
        for folder in ("data", "artifacts")
        for p in sorted((project / folder).rglob("*"))
        if p.is_file()
    }
    store = sqlite3.connect(project / "mlruns" / "mlflow.db")
    try:
        versions = store.execute("SELECT name, version FROM model_versions").fetchall()
        aliases = store.execute("SELECT name, alias, version FROM registered_model_aliases")
        registry = {"versions": sorted(versions), "aliases": sorted(aliases.fetchall())}
    finally:
        store.close()
    # Metrics files hold run ids and timings, the model card the training time: compared by
    # name; the rest (tables, predictions, the report pages) byte for byte.
    timed = ("metrics", "model_card")
    same_bytes = {n: data for n, data in files.items() if not any(t in n for t in timed)}
    return {"files": sorted(files), "contents": same_bytes, "registry": registry}


@pytest.mark.slow
def test_airflow_dags_test_runs_the_whole_dag_like_make_pipeline(
    local_project: Path, run: Run, record_property: Callable[[str, object], None]
) -> None:
    project = local_project
    before = project_files(project)
    started = time.monotonic()
    proc = run(["make", "airflow-run"], cwd=project)
    record_property("wall time", f"make airflow-run {time.monotonic() - started:.1f} s")
    log = proc.stdout + proc.stderr
    finished = [
        line.split("task_id=")[1].split()[0]
        for line in log.splitlines()
        if "[DAG TEST] end task" in line
    ]
    assert finished == JOBS
    assert f"DagRun Finished: dag_id={DAG_ID}" in log
    assert "state=success" in log
    airflow_run = outputs(project)
    assert airflow_run["registry"] == {
        "versions": [(SLUG, 1)],
        "aliases": [(SLUG, "candidate", 1), (SLUG, "champion", 1)],
    }
    assert {"artifacts/predictions.csv", "artifacts/drift_report.json"} <= set(airflow_run["files"])
    # Nothing of Airflow's local run is left in the project (its AIRFLOW_HOME was temporary):
    # only the jobs' outputs, the project's and Airflow's environments and their locks.
    new = project_files(project) - before
    left = {"/".join(f.split("/")[: 2 if f.startswith("dags/") else 1]) for f in new}
    assert left - {"dags/uv.lock", "dags/.venv"} == {"data", "artifacts", "mlruns"}

    for folder in ("data", "artifacts", "mlruns"):
        shutil.rmtree(project / folder)
    run(["make", "pipeline"], cwd=project)
    assert outputs(project) == airflow_run


# --- without airflow, and the make targets ------------------------------------------------------


def test_without_airflow_nothing_of_it_is_rendered(copie_session: Any) -> None:
    for answers in ({}, {"platforms": ["kubernetes"]}):
        project = render(copie_session, **answers)
        files = project_files(project)
        assert not any(f.startswith(("dags/", "make/airflow")) for f in files), answers
        for name in files:
            lines = (project / name).read_text().lower().splitlines()
            # The answers file names the template's folder, which pytest names after this test.
            text = [line for line in lines if not line.startswith("_src_path:")]
            assert not any("airflow" in line for line in text), f"{answers}: {name}"
        assert "airflow" not in makefile(project)


def test_airflow_adds_its_files_targets_and_ci_job(kubernetes_project: Path, run: Run) -> None:
    assert {
        f for f in project_files(kubernetes_project) if f.startswith(("dags/", "make/"))
    } >= AIRFLOW_FILES
    help_text = run(["make", "help"], cwd=kubernetes_project).stdout
    for target in ("airflow-check", "airflow-run", "airflow-pods"):
        assert f"  {target} " in help_text, target
    workflow = yaml.safe_load((kubernetes_project / ".github/workflows/ci.yml").read_text())
    steps = workflow["jobs"]["orchestrator"]["steps"]
    assert steps[-1] == {"run": "make airflow-check"}
    assert any(s.get("uses", "").startswith("azure/setup-kubectl@") for s in steps)
    pins = tomllib.loads((kubernetes_project / "dags" / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    assert "apache-airflow==3.3.2" in pins
    project_deps = tomllib.loads((kubernetes_project / "pyproject.toml").read_text())
    assert "airflow" not in json.dumps(project_deps)  # never in the package or its image


def test_make_airflow_check_prints_the_graph(local_project: Path, run: Run) -> None:
    proc = run(["make", "airflow-check"], cwd=local_project)
    lines = [line.split() for line in proc.stdout.splitlines() if line.startswith("  ")]
    assert [(words[0], words[2]) for words in lines] == [
        ("data", "-"),
        ("train", "data"),
        ("evaluate", "train"),
        ("predict", "evaluate"),
        ("monitor", "predict"),
    ]
