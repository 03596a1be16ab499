"""The SageMaker target: the container contract on the real entry points, and the deploy steps.

A project rendered with `platforms: [sagemaker]` is installed once. Its CLI then runs as
SageMaker runs the image, on a temporary folder laid out like /opt/ml (`SAGEMAKER_ROOT`): the
shipped tables as channels, string hyperparameters; `train` fills the model folder or writes
`output/failure` and exits non-zero; `serve` answers `/ping` and `/invocations` over loopback
HTTP. The same contract runs inside the built image in tests/test_container.py.
"""

from __future__ import annotations

import fnmatch
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

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
    assert all(len(line.split(",")) == 3 for line in body.splitlines())  # class, p(0), p(1)
    assert set(json.loads(results["csv->json"][2])["probabilities"][0]) == {"0", "1"}
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


def test_make_builds_and_pushes_the_sagemaker_target(
    project: Path, run: Run, tmp_path: Path
) -> None:
    """sagemaker-push runs for real with stand-ins for aws and docker that record their calls."""
    calls = tmp_path / "calls.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, answer in (("aws", "password"), ("docker", "")):
        script = bin_dir / tool
        script.write_text(  # `docker login --password-stdin` reads the password, as docker does
            f'#!/bin/sh\necho "{tool} $*" >> {calls}\n'
            f'case "$*" in *--password-stdin*) cat > /dev/null;; esac\necho {answer}\n'
        )
        script.chmod(0o755)
    uri = SAGEMAKER_ACCOUNT_ENV["SAGEMAKER_IMAGE_URI"]
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    run(["make", "sagemaker-push", f"SAGEMAKER_IMAGE_URI={uri}"], cwd=project, env=env)
    registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    recorded = calls.read_text().splitlines()
    # `aws ecr get-login-password | docker login`: the two ends of a pipe start together.
    assert sorted(recorded[:2]) == [
        "aws ecr get-login-password --region eu-west-1",
        f"docker login --username AWS --password-stdin {registry}",
    ]
    assert recorded[2:] == [f"docker tag my-ml-project:sagemaker {uri}", f"docker push {uri}"]
    assert (
        "docker build  --target sagemaker -t my-ml-project:sagemaker ."
        in run(["make", "-n", "sagemaker-build"], cwd=project).stdout
    )
    # Without the URI, the stack's outputs give it: no region, no stack to read, one clear line.
    calls.unlink()
    refused = run(["make", "sagemaker-push"], cwd=project, env=env, check=False)
    assert refused.returncode != 0
    assert "image-uri failed: set region (AWS_REGION)" in refused.stderr
    assert not calls.exists()  # nothing was pushed


# --- the stack's roles against the requests the steps send ----------------------------------------

SAGEMAKER_RESOURCES = {  # operation: (resource type, the parameter that names it)
    "create_training_job": ("training-job", "TrainingJobName"),
    "describe_training_job": ("training-job", "TrainingJobName"),
    "describe_model_package_group": ("model-package-group", "ModelPackageGroupName"),
    "create_model_package": ("model-package-group", "ModelPackageGroupName"),
    "describe_model": ("model", "ModelName"),
    "create_model": ("model", "ModelName"),
    "delete_model": ("model", "ModelName"),
    "create_endpoint_config": ("endpoint-config", "EndpointConfigName"),
    "delete_endpoint_config": ("endpoint-config", "EndpointConfigName"),
    "describe_endpoint": ("endpoint", "EndpointName"),
    "create_endpoint": ("endpoint", "EndpointName"),
    "update_endpoint": ("endpoint", "EndpointName"),
    "delete_endpoint": ("endpoint", "EndpointName"),
    "invoke_endpoint": ("endpoint", "EndpointName"),
    "create_transform_job": ("transform-job", "TransformJobName"),
    "describe_transform_job": ("transform-job", "TransformJobName"),
}


def _resolve(value: Any, names: dict[str, str]) -> list[str]:
    """A policy's Resource with the stack's intrinsics filled in from `names`."""
    if isinstance(value, list):
        return [v for item in value for v in _resolve(item, names)]
    if isinstance(value, str):
        return [value]
    (function, argument), *_ = value.items()
    if function == "Fn::Sub":
        return [re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], argument)]
    if function == "Fn::GetAtt":
        return [names[".".join(argument)]]
    assert function == "Ref", value
    return [names[argument]]


def _grants(role: dict[str, Any], names: dict[str, str]) -> dict[str, list[str]]:
    """Action -> the resources a role's inline policies grant it on."""
    grants: dict[str, list[str]] = {}
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                grants.setdefault(action, []).extend(_resolve(statement["Resource"], names))
    return grants


def test_the_stacks_roles_grant_exactly_what_the_steps_send(project: Path, run: Run) -> None:
    """Every dry-run request is granted on its resource, and nothing else is granted.

    Beyond the requests: updating an existing endpoint (a dry run creates it), tagging what
    is created, passing the execution role, reading the stack's outputs and pushing the image.
    """
    requests = sagemaker_dry_runs(project, run)
    stack = yaml.safe_load((project / "deploy/sagemaker/stack.yaml").read_text())
    config = yaml.safe_load((project / "deploy/sagemaker/config.yaml").read_text())
    region, bucket = SAGEMAKER_ACCOUNT_ENV["AWS_REGION"], SAGEMAKER_ACCOUNT_ENV["SAGEMAKER_BUCKET"]
    account = SAGEMAKER_ACCOUNT_ENV["SAGEMAKER_ROLE_ARN"].split(":")[4]
    prefix = f"arn:aws:sagemaker:{region}:{account}:"
    names = {
        "Name": config["name"],
        "AWS::Partition": "aws",
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{config['stack']}/1",
        "Bucket.Arn": f"arn:aws:s3:::{bucket}",
        "Repository.Arn": f"arn:aws:ecr:{region}:{account}:repository/{config['name']}",
        # The role the requests pass is the stack's execution role (its output ExecutionRoleArn).
        "ExecutionRole.Arn": SAGEMAKER_ACCOUNT_ENV["SAGEMAKER_ROLE_ARN"],
    }
    deploy = _grants(stack["Resources"]["DeployRole"], names)
    needed: dict[str, set[str]] = {}
    sent = [r for step in requests.values() for r in step]
    endpoint = next(r["params"] for r in sent if r["operation"] == "create_endpoint")
    sent.append({"service": "sagemaker", "operation": "update_endpoint", "params": endpoint})
    for request in sent:
        operation, params = request["operation"], request["params"]
        if operation == "upload_file":
            action, resource = "s3:PutObject", f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"
        else:
            action = "sagemaker:" + "".join(p.title() for p in operation.split("_"))
            kind, key = SAGEMAKER_RESOURCES.get(operation, ("", ""))
            resource = f"{prefix}{kind}/{params[key]}" if kind else "*"  # List* name none
        needed.setdefault(action, set()).add(resource)
        if "Tags" in params:
            needed.setdefault("sagemaker:AddTags", set()).add(resource)
        for role in (params.get("RoleArn"), params.get("ExecutionRoleArn")):
            if role:
                needed.setdefault("iam:PassRole", set()).add(role)
    ecr_push = {
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
    }
    for action in ecr_push:
        needed[action] = {names["Repository.Arn"]}
    needed["ecr:GetAuthorizationToken"] = {"*"}  # an account-wide action
    needed["cloudformation:DescribeStacks"] = {names["AWS::StackId"]}
    assert set(deploy) == set(needed)  # nothing beyond what the steps need
    for action, resources in needed.items():
        for resource in resources:
            assert any(fnmatch.fnmatchcase(resource, granted) for granted in deploy[action]), (
                action,
                resource,
                deploy[action],
            )
    # The execution role reads and writes every S3 location the jobs name, and pulls the image.
    execution = _grants(stack["Resources"]["ExecutionRole"], names)
    locations = re.findall(r"s3://[^\"]+", json.dumps(requests))
    assert locations
    for location in locations:
        key = "arn:aws:s3:::" + location.removeprefix("s3://").rstrip("/") + "/x"
        for action in ("s3:GetObject", "s3:PutObject"):
            assert any(fnmatch.fnmatchcase(key, g) for g in execution[action]), (action, key)
    assert execution["ecr:BatchGetImage"] == [names["Repository.Arn"]]
    print(f"\ndeploy role: {len(deploy)} actions, each on the resources the requests name")
