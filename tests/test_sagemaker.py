"""The SageMaker target: the container contract on the real entry points, and the deploy steps.

A project rendered with `platforms: [sagemaker]` is installed once. Its CLI then runs as
SageMaker runs the image, on a temporary folder laid out like /opt/ml (`SAGEMAKER_ROOT`): the
shipped tables as channels, string hyperparameters; `train` fills the model folder or writes
`output/failure` and exits non-zero; `serve` answers `/ping` and `/invocations` over loopback
HTTP. The same contract runs inside the built image in tests/test_container.py.
"""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import SAGEMAKER_ACCOUNT_ENV, sagemaker_dry_runs

pytestmark = pytest.mark.slow

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def project(copie_session: Any, run: Run) -> Path:
    """The project rendered with sagemaker, installed, with the shipped tables exported."""
    result = copie_session.copy(extra_answers={"platforms": ["sagemaker"]}, vcs_ref="HEAD")
    assert result.exit_code == 0, result.exception
    project = Path(result.project_dir)
    run(["make", "install", "data"], cwd=project)
    return project


def opt_ml(project: Path, root: Path, hyperparameters: dict[str, str]) -> Path:
    """A folder laid out like /opt/ml for a training job: config and channels."""
    (root / "input/config").mkdir(parents=True)
    (root / "input/config/hyperparameters.json").write_text(json.dumps(hyperparameters))
    for channel in ("train", "test"):
        (root / "input/data" / channel).mkdir(parents=True)
        shutil.copy(project / f"data/{channel}.csv", root / "input/data" / channel)
    return root


def sagemaker(project: Path, run: Run, root: Path, action: str) -> subprocess.CompletedProcess[str]:
    """`my-ml-project sagemaker <action>`: the console script, as the image's entry point."""
    env = {"SAGEMAKER_ROOT": str(root), "MLFLOW_TRACKING_URI": f"sqlite:///{root}.mlflow.db"}
    command = [str(project / ".venv/bin/my-ml-project"), "sagemaker", action]
    return run(command, cwd=project, env=env, check=False)


@pytest.fixture(scope="module")
def trained(project: Path, run: Run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = opt_ml(
        project, tmp_path_factory.mktemp("train") / "ml", {"model.params.C": "0.5", "seed": "7"}
    )
    proc = sagemaker(project, run, root, "train")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def test_the_rendered_project_is_green(project: Path, run: Run) -> None:
    run(["make", "lint", "test"], cwd=project)


def test_train_fills_the_model_folder(trained: Path) -> None:
    files = {path.name for path in (trained / "model").iterdir()}
    assert {"MLmodel", "model.skops", "train_metrics.json", "evaluate_metrics.json"} <= files
    assert not (trained / "output/failure").exists()
    evaluation = json.loads((trained / "model/evaluate_metrics.json").read_text())
    print(f"\nsagemaker train: {sorted(files)}; test metrics {evaluation['metrics']}")


@pytest.mark.parametrize(
    ("hyperparameters", "damage", "reason"),
    [
        ({"epochs": "3"}, None, "unknown hyperparameter 'epochs'; the train job knows "),
        ({}, "no-train-channel", "SageMaker channel 'train' is missing"),
        ({}, "malformed-data", "does not match the schema: column 'mean_radius' must be a number"),
    ],
    ids=["bad-hyperparameter", "missing-channel", "malformed-data"],
)
def test_a_failed_train_writes_failure_and_exits_non_zero(
    project: Path,
    run: Run,
    tmp_path: Path,
    hyperparameters: dict[str, str],
    damage: str | None,
    reason: str,
) -> None:
    root = opt_ml(project, tmp_path / "ml", hyperparameters)
    if damage == "no-train-channel":
        shutil.rmtree(root / "input/data/train")
    elif damage == "malformed-data":
        table = root / "input/data/train/train.csv"
        header, first, *rest = table.read_text().splitlines()
        cells = first.split(",")
        cells[header.split(",").index("mean_radius")] = "big"
        table.write_text("\n".join([header, ",".join(cells), *rest]) + "\n")
    proc = sagemaker(project, run, root, "train")
    assert proc.returncode == 1
    failure = (root / "output/failure").read_text()
    assert reason in failure
    assert "Traceback" not in proc.stderr
    assert not (root / "model/MLmodel").exists()
    print(f"\nsagemaker train ({damage or 'bad hyperparameter'}): exit 1, failure: {failure[:90]}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(
    port: int, method: str, path: str, body: str = "", headers: dict[str, str] | None = None
) -> tuple[int, str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body.encode(), headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def served(
    project: Path, trained: Path, project_env: dict[str, str]
) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """`my-ml-project sagemaker serve` on the trained folder, on the port SageMaker names."""
    port = _free_port()
    env = {
        **project_env,
        "SAGEMAKER_ROOT": str(trained),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "MLFLOW_TRACKING_URI": f"sqlite:///{trained}.serve.db",
    }
    process = subprocess.Popen(  # the console script itself, as the image's ENTRYPOINT runs it
        [str(project / ".venv/bin/my-ml-project"), "sagemaker", "serve"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"serve exited {process.returncode}:\n{process.stdout.read()}")
            try:
                if _request(port, "GET", "/ping")[0] == 200:
                    break
            except OSError:
                time.sleep(0.25)
        else:
            pytest.fail("serve did not answer /ping within 60 s")
        yield port, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_answers_ping_and_invocations_over_http(
    project: Path, served: tuple[int, subprocess.Popen[str]]
) -> None:
    port, _ = served
    header, *rows = (project / "data/inference.csv").read_text().splitlines()[:4]
    features = header.split(",", 1)[1]
    plain = "\n".join(row.split(",", 1)[1] for row in rows)  # no sample_id column
    csv = {"Content-Type": "text/csv"}
    results = {
        "ping": _request(port, "GET", "/ping"),
        "csv": _request(port, "POST", "/invocations", plain, csv),
        "csv+header": _request(port, "POST", "/invocations", f"{features}\n{plain}", csv),
        "csv->json": _request(
            port, "POST", "/invocations", plain, {**csv, "Accept": "application/json"}
        ),
        "json": _request(
            port,
            "POST",
            "/invocations",
            json.dumps(
                {
                    "records": [
                        dict(zip(features.split(","), map(float, row.split(",")[1:]), strict=True))
                        for row in rows
                    ]
                }
            ),
            {"Content-Type": "application/json"},
        ),
        "short row": _request(port, "POST", "/invocations", "1,2,3", csv),
        "not a number": _request(port, "POST", "/invocations", "x," + plain.split(",", 1)[1], csv),
        "text/plain": _request(port, "POST", "/invocations", plain, {"Content-Type": "text/plain"}),
        "accept xml": _request(port, "POST", "/invocations", plain, {**csv, "Accept": "text/xml"}),
    }
    print(
        "\nsagemaker serve:",
        {name: (status, body[:70]) for name, (status, _, body) in results.items()},
    )
    assert results["ping"][0] == 200
    status, media, body = results["csv"]
    assert (status, media.split(";")[0]) == (200, "text/csv")
    assert len(body.splitlines()) == 3
    assert results["csv+header"][2] == body
    assert json.loads(results["csv->json"][2])["predictions"] == [
        int(line.split(",")[0]) for line in body.splitlines()
    ]
    assert results["json"][1] == "application/json"
    assert (
        json.loads(results["json"][2])["predictions"]
        == json.loads(results["csv->json"][2])["predictions"]
    )
    assert results["short row"][0] == 422
    assert "3 values, expected 30" in results["short row"][2]
    assert results["not a number"][0] == 422
    assert "Input should be a valid number" in results["not a number"][2]
    assert results["text/plain"][0] == 415
    assert results["accept xml"][0] == 406
    assert _request(port, "GET", "/ping")[0] == 200  # still serving


def test_serve_stops_cleanly_on_sigterm(served: tuple[int, subprocess.Popen[str]]) -> None:
    _, process = served
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    # uvicorn drains, shuts the app down, then re-raises the signal it caught.
    assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    assert time.monotonic() - started < 30  # SageMaker's SIGKILL comes 30 s after SIGTERM
    output = process.stdout.read() if process.stdout else ""
    assert "Waiting for application shutdown." in output
    assert "Finished server process" in output


def test_dry_runs_print_the_requests_as_json(project: Path, run: Run) -> None:
    requests = sagemaker_dry_runs(project, run)  # the image, role and channels are checked there
    (training,) = (r for r in requests["train"] if r["operation"] == "create_training_job")
    params = training["params"]
    assert params["HyperParameters"] == {}  # configs/train.yaml in the image is the one source
    summary = {step: [r["operation"] for r in sent] for step, sent in requests.items()}
    print(f"\nsagemaker dry runs: {json.dumps(summary)}")
    print(f"create_training_job: {json.dumps(params)}")


def test_make_builds_and_pushes_the_sagemaker_target(project: Path, run: Run) -> None:
    uri = SAGEMAKER_ACCOUNT_ENV["SAGEMAKER_IMAGE_URI"]
    out = run(
        ["make", "-n", "sagemaker-build", "sagemaker-push", f"SAGEMAKER_IMAGE_URI={uri}"],
        cwd=project,
    ).stdout
    assert "docker build  --target sagemaker -t my-ml-project:sagemaker ." in out
    registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert "aws ecr get-login-password --region eu-west-1" in out
    assert f"docker login --username AWS --password-stdin {registry}" in out
    assert f"docker push {uri}" in out
    refused = run(["make", "sagemaker-push"], cwd=project, check=False)
    assert refused.returncode != 0
    assert "set SAGEMAKER_IMAGE_URI=" in refused.stdout
