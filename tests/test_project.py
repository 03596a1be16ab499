"""Rendered projects are green: their own Makefile installs, lints, tests, builds and runs them."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def default_project(copie_session: Any, run: Run) -> Path:
    """The project rendered with every default answer, installed once for this module."""
    result = copie_session.copy(extra_answers={}, vcs_ref="HEAD")
    assert result.exit_code == 0, result.exception
    project = Path(result.project_dir)
    run(["make", "install"], cwd=project)
    return project


def test_defaults_are_green(default_project: Path, run: Run) -> None:
    run(["make", "lint", "test", "build"], cwd=default_project)
    assert (default_project / "uv.lock").is_file()
    assert [p.name for p in (default_project / "dist").glob("*.whl")] == [
        "my_ml_project-0.1.0-py3-none-any.whl"
    ]
    assert list((default_project / "dist").glob("*.tar.gz"))
    stale = default_project / "src/my_ml_project/__pycache__/stale.cpython-311.pyc"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"")
    run(["make", "clean"], cwd=default_project)
    assert not (default_project / "dist").exists()
    assert not stale.parent.exists()
    assert list((default_project / ".venv").rglob("*.pyc"))  # the environment keeps its bytecode


def test_format_changes_nothing_in_a_fresh_project(default_project: Path, run: Run) -> None:
    sources = [*default_project.glob("src/**/*.py"), *default_project.glob("tests/**/*.py")]
    before = {path: path.read_bytes() for path in sources}
    run(["make", "format"], cwd=default_project)
    assert {path: path.read_bytes() for path in sources} == before


def test_ci_installs_exactly_the_lock(default_project: Path, run: Run) -> None:
    dry_run = run(["make", "-n", "install", "CI=true"], cwd=default_project).stdout
    assert "sync --locked" in dry_run
    run(["make", "install", "CI=true"], cwd=default_project)  # uv.lock is current


def test_make_help_lists_the_targets(default_project: Path, run: Run) -> None:
    out = run(["make"], cwd=default_project).stdout
    for target in ("install", "lint", "format", "test", "build", "clean", "train", "pipeline"):
        assert f"  {target} " in out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(
    url: str, body: dict[str, Any] | None = None, raw: bytes | None = None
) -> tuple[int, Any]:
    data = raw if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def trained_project(default_project: Path, run: Run) -> Path:
    """The default project after `make pipeline`: data, a champion model, reports."""
    run(["make", "pipeline"], cwd=default_project)
    return default_project


@pytest.fixture
def service(trained_project: Path, project_env: dict[str, str]) -> Iterator[str]:
    """`my-ml-project serve` on a free loopback port; yields its base URL."""
    port = _free_port()
    process = subprocess.Popen(
        ["uv", "run", "--frozen", "my-ml-project", "serve", "--port", str(port)],
        cwd=trained_project,
        env=project_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            if process.poll() is not None:
                pytest.fail(f"serve exited {process.returncode}:\n{process.stdout.read()}")
            try:
                if _http(f"{base}/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.25)
        else:
            pytest.fail("serve did not answer /health within 30 s")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_pipeline_trains_on_the_shipped_data(trained_project: Path) -> None:
    artifacts = trained_project / "artifacts"
    evaluation = json.loads((artifacts / "evaluate_metrics.json").read_text())
    assert evaluation["promoted"] is True
    assert evaluation["metrics"]["roc_auc"] > 0.95
    assert len((artifacts / "predictions.csv").read_text().splitlines()) == 1 + 114
    assert json.loads((artifacts / "drift_report.json").read_text())["drifted_features"] == []


def test_malformed_data_fails_the_job_with_one_clear_line(default_project: Path, run: Run) -> None:
    (default_project / "data").mkdir(exist_ok=True)
    (default_project / "data/bad.csv").write_text("mean_texture,colour\n1.0,red\n")
    proc = run(
        ["uv", "run", "--frozen", "my-ml-project", "predict", "--set", "input_path=data/bad.csv"],
        cwd=default_project,
        check=False,
    )
    assert proc.returncode == 1
    assert "missing column(s) mean_radius" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_service_answers_over_http(trained_project: Path, service: str) -> None:
    status, health = _http(f"{service}/health")
    assert (status, health["status"], health["model_version"]) == (200, "ok", "1")
    features = [c for c in inference_columns(trained_project) if c != "sample_id"]
    row = dict.fromkeys(features, 1.0)
    status, body = _http(f"{service}/predict", {"records": [row]})
    assert status == 200
    assert body["predictions"][0] in (0, 1)
    status, body = _http(f"{service}/predict", {"records": [{"mean_radius": "x"}]})
    assert status == 422
    assert "mean_radius" in json.dumps(body)
    # Hostile input: non-finite numbers, an oversized body; the service keeps serving.
    nan_body = json.dumps({"records": [row]}).replace("1.0", "NaN", 1).encode()
    status, body = _http(f"{service}/predict", raw=nan_body)
    assert status == 422
    assert body["detail"][0]["msg"] == "Input should be a finite number"
    assert _status_of_announced_body(service, "/predict", 4 * 1024 * 1024 + 1) == 413
    assert _http(f"{service}/docs")[0] == 404  # interactive docs only with `docs: true`
    assert _http(f"{service}/health")[0] == 200


def _status_of_announced_body(base: str, path: str, length: int) -> int:
    """Status of a POST whose headers announce `length` bytes: a capped server answers before
    the body is sent (it would drop the connection in the middle of a real upload)."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def inference_columns(project: Path) -> list[str]:
    """Feature names as the project's inference table lists them."""
    return (project / "data/inference.csv").read_text().splitlines()[0].split(",")


@pytest.mark.parametrize(
    "answers",
    [{"python_version": "3.13", "license": "Apache-2.0", "use_docs": True, "version": "1.2.3"}],
    ids=["py313-docs"],
)
def test_non_default_answers_are_green(
    render: Callable[..., Path], run: Run, answers: dict[str, object]
) -> None:
    project = render(**answers)
    run(["make", "install", "lint", "test", "build", "docs"], cwd=project)
    assert (project / "site" / "index.html").is_file()
    assert list((project / "dist").glob("*-1.2.3-py3-none-any.whl"))
    out = run(["uv", "run", "--frozen", "my-ml-project", "--version"], cwd=project).stdout
    assert out.strip() == "my-ml-project 1.2.3"
