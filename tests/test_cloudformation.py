"""The SageMaker target's CloudFormation stack (deploy/sagemaker/stack.yaml), checked offline.

The stack is rendered for both CI answers (its deploy role trusts GitHub's or GitLab's OIDC
tokens). cfn-lint checks every resource type and property against AWS's own schemas and must
report nothing, not even a warning; checkov scans the policy side with only the skips the stack
documents in its own Metadata. Each tool is shown to fail on a broken copy (a misspelt property,
a wildcard action), so a pass means something. Neither tool looks at the OIDC subject a role
trusts: the tests below do. The roles' permissions against the deploy steps' requests are
checked in tests/test_sagemaker.py (on an installed project's dry runs).
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import makefile, project_files, run_command

BIN = Path(sys.executable).parent  # the template's .venv: cfn-lint, uv
CFN_LINT = [str(BIN / "cfn-lint"), "--non-zero-exit-code", "informational"]
# Same as tests/test_kubernetes.py: checkov in a uv tool environment of its own (it pins
# packaging<24, which would hold back this environment's pytest).
CHECKOV = [str(BIN / "uv"), "tool", "run", "--from", "checkov==3.3.30", "checkov"]
STACK = "deploy/sagemaker/stack.yaml"
CIS = ("github", "gitlab")

# The checkov checks the stack skips, each with its reason in the stack's Metadata.
DOCUMENTED_SKIPS = {"CKV_AWS_18"}  # S3 server access logging (needs a second bucket)
RESOURCES = {
    "Bucket": "AWS::S3::Bucket",
    "BucketPolicy": "AWS::S3::BucketPolicy",
    "Repository": "AWS::ECR::Repository",
    "ModelPackageGroup": "AWS::SageMaker::ModelPackageGroup",
    "ExecutionRole": "AWS::IAM::Role",
    "OidcProvider": "AWS::IAM::OIDCProvider",
    "DeployRole": "AWS::IAM::Role",
}
OUTPUTS = {"BucketName", "ExecutionRoleArn", "ImageRepositoryUri", "ModelPackageGroupName"}


@pytest.fixture(scope="module")
def stacks(copie_session: Any) -> dict[str, Path]:
    """deploy/sagemaker/stack.yaml of a project rendered with sagemaker, per CI answer."""
    rendered = {}
    for ci in CIS:
        answers = {"platforms": ["sagemaker"], "ci": ci}
        result = copie_session.copy(extra_answers=answers, vcs_ref="HEAD")
        assert result.exit_code == 0, result.exception
        rendered[ci] = Path(result.project_dir) / STACK
    return rendered


def load(path: Path) -> dict[str, Any]:
    """The stack as plain YAML (it uses the long form of intrinsics: `Fn::Sub:`, not `!Sub`)."""
    stack = yaml.safe_load(path.read_text())
    assert isinstance(stack, dict), path
    return stack


def write(stack: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(stack, sort_keys=False))
    return path


def cfn_lint(*paths: Path) -> Any:
    return run_command([*CFN_LINT, *map(str, paths)], None, os.environ, check=False)


# --- what the stack holds -------------------------------------------------------------------


def test_the_stack_creates_what_the_sagemaker_target_uses(stacks: dict[str, Path]) -> None:
    for ci, path in stacks.items():
        stack = load(path)
        resources = {name: r["Type"] for name, r in stack["Resources"].items()}
        assert resources == RESOURCES, ci
        assert set(stack["Outputs"]) == OUTPUTS | {"DeployRoleArn"}, ci
        bucket = stack["Resources"]["Bucket"]["Properties"]
        assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
        assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
        (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        (tls,) = stack["Resources"]["BucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        assert (tls["Effect"], tls["Condition"]) == (
            "Deny",
            {"Bool": {"aws:SecureTransport": "false"}},
        )
        repository = stack["Resources"]["Repository"]["Properties"]
        assert repository["ImageTagMutability"] == "IMMUTABLE"
        assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}
        rules = json.loads(repository["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
        assert [rule["action"]["type"] for rule in rules] == ["expire", "expire"]
        # The names the deploy steps use by default are the stack's defaults.
        config = yaml.safe_load((path.parent / "config.yaml").read_text())
        assert stack["Parameters"]["Name"]["Default"] == config["name"]
        assert re.fullmatch(stack["Parameters"]["Name"]["AllowedPattern"], config["name"])


def test_without_sagemaker_no_cloudformation_is_rendered(render: Callable[..., Path]) -> None:
    for answers in ({}, {"ci": "gitlab", "platforms": ["databricks", "kubernetes"]}):
        project = render(**answers)
        assert not [f for f in project_files(project) if f.startswith("deploy/sagemaker")]
        templates = [
            f
            for f in project_files(project)
            if f.endswith((".yaml", ".yml", ".json"))
            and "AWSTemplateFormatVersion" in (project / f).read_text()
        ]
        assert templates == [], answers
        assert "sagemaker-infra" not in makefile(project)


# --- cfn-lint -------------------------------------------------------------------------------


def test_cfn_lint_reports_nothing(stacks: dict[str, Path]) -> None:
    proc = cfn_lint(*stacks.values())
    print(f"\ncfn-lint {' '.join(CIS)}: exit {proc.returncode}, output {proc.stdout!r}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_cfn_lint_fails_on_a_broken_property(stacks: dict[str, Path], tmp_path: Path) -> None:
    stack = load(stacks["github"])
    scanning = stack["Resources"]["Repository"]["Properties"]["ImageScanningConfiguration"]
    scanning["ScanOnPsh"] = scanning.pop("ScanOnPush")
    proc = cfn_lint(write(stack, tmp_path / "broken.yaml"))
    assert proc.returncode == 2, proc.stdout  # bit 2: an error
    assert "E3002" in proc.stdout
    assert "'ScanOnPsh' was unexpected" in proc.stdout


# --- checkov --------------------------------------------------------------------------------


def test_checkov_finds_nothing_beyond_the_documented_skips(
    stacks: dict[str, Path], tmp_path: Path
) -> None:
    """One scan of both stacks and of a control whose deploy role is granted every action."""
    control = load(stacks["github"])
    (policy,) = control["Resources"]["DeployRole"]["Properties"]["Policies"]
    policy["PolicyDocument"]["Statement"].append(
        {"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"}
    )
    control_path = write(control, tmp_path / "control.yaml")
    files = [*stacks.values(), control_path]
    args = [*CHECKOV, "--skip-download", "--framework", "cloudformation", "-o", "json"]
    proc = run_command(
        [*args, *(a for f in files for a in ("-f", str(f)))], None, os.environ, check=False
    )
    assert proc.returncode == 1, proc.stderr  # failed checks: the control's
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    (report,) = (r for r in reports if r["check_type"] == "cloudformation")
    assert report["summary"]["parsing_errors"] == 0
    failed: dict[str, set[str]] = {}
    for check in report["results"]["failed_checks"]:
        failed.setdefault(Path(check["file_path"]).name, set()).add(check["check_id"])
    # full administrative privileges; credentials exposure; permissions management without
    # constraints (CKV_AWS_63, "*" as an action, looks at policy resources, not inline ones)
    assert {"CKV_AWS_62", "CKV_AWS_107", "CKV_AWS_109"} <= failed.pop("control.yaml")
    assert failed == {}, failed
    skipped = report["results"]["skipped_checks"]
    assert {check["check_id"] for check in skipped} == DOCUMENTED_SKIPS
    assert all(c["check_result"]["suppress_comment"] for c in skipped)  # each says why
    passed = {
        (Path(c["file_path"]).name, c["resource"]) for c in report["results"]["passed_checks"]
    }
    assert ("stack.yaml", "AWS::IAM::Role.DeployRole") in passed  # really scanned
    summary = report["summary"]
    print(
        f"\ncheckov: passed {summary['passed']}, failed {summary['failed']} (the control's), "
        f"skipped {summary['skipped']} {sorted(DOCUMENTED_SKIPS)}"
    )


# --- OIDC trust: what neither tool checks -----------------------------------------------------


def oidc_problems(stack: dict[str, Any]) -> list[str]:
    """Why a role trusting OIDC tokens would accept more than one protected deploy, if it would."""
    problems = []
    for name, resource in stack["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for statement in resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            if statement["Action"] != "sts:AssumeRoleWithWebIdentity":
                continue
            conditions = statement.get("Condition", {})
            if set(conditions) != {"StringEquals"}:
                problems.append(f"{name}: conditions other than StringEquals: {set(conditions)}")
            exact = conditions.get("StringEquals", {})
            subjects = [v for k, v in exact.items() if k.endswith(":sub")]
            audiences = [v for k, v in exact.items() if k.endswith(":aud")]
            if len(subjects) != 1 or len(audiences) != 1:
                problems.append(f"{name}: needs exactly one sub and one aud condition")
            for subject in subjects:
                text = subject["Fn::Sub"] if isinstance(subject, dict) else subject
                if "*" in text or "?" in text:
                    problems.append(f"{name}: wildcard subject {text}")
                for parameter in re.findall(r"\$\{([^}.]+)\}", text):
                    pattern = stack["Parameters"][parameter].get("AllowedPattern")
                    if pattern is None or any(
                        re.fullmatch(pattern, w) for w in ("*", "a/*", "*/*", "a/b*")
                    ):
                        problems.append(f"{name}: parameter {parameter} admits a wildcard")
    return problems


SUBJECTS = {
    "github": (
        "token.actions.githubusercontent.com",
        "sts.amazonaws.com",
        "repo:${GitHubRepository}:environment:${DeployEnvironment}",
    ),
    "gitlab": (
        "gitlab.com",
        "https://gitlab.com",
        "project_path:${GitLabProjectPath}:ref_type:branch:ref:${DeployBranch}",
    ),
}


def test_the_deploy_role_trusts_one_protected_deploy_only(stacks: dict[str, Path]) -> None:
    for ci, path in stacks.items():
        stack = load(path)
        assert oidc_problems(stack) == [], ci
        issuer, audience, subject = SUBJECTS[ci]
        (statement,) = stack["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"][
            "Statement"
        ]
        assert statement["Condition"]["StringEquals"] == {
            f"{issuer}:aud": audience,
            f"{issuer}:sub": {"Fn::Sub": subject},
        }
        provider = stack["Resources"]["OidcProvider"]["Properties"]
        assert provider["Url"] == f"https://{issuer}"
        assert provider["ClientIdList"] == [audience]
        # The execution role is for SageMaker of this account, not for tokens.
        (execution,) = stack["Resources"]["ExecutionRole"]["Properties"][
            "AssumeRolePolicyDocument"
        ]["Statement"]
        assert execution["Principal"] == {"Service": "sagemaker.amazonaws.com"}
        assert execution["Condition"] == {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        }


@pytest.mark.parametrize(
    "damage", ["wildcard-subject", "string-like", "open-parameter", "no-subject"]
)
def test_the_trust_check_catches_a_wildcard(stacks: dict[str, Path], damage: str) -> None:
    stack = copy.deepcopy(load(stacks["github"]))
    (statement,) = stack["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    condition = statement["Condition"]
    key = "token.actions.githubusercontent.com:sub"
    if damage == "wildcard-subject":
        condition["StringEquals"][key] = {"Fn::Sub": "repo:${GitHubRepository}:*"}
    elif damage == "string-like":
        condition["StringLike"] = {key: condition["StringEquals"].pop(key)}
    elif damage == "open-parameter":
        stack["Parameters"]["GitHubRepository"]["AllowedPattern"] = ".+"
    else:
        del condition["StringEquals"][key]
    assert oidc_problems(stack), damage


# --- the make targets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ci", "remote", "parameter"),
    [
        ("github", "git@github.com:acme/churn.git", "GitHubRepository=acme/churn"),
        ("gitlab", "https://gitlab.com/acme/ml/churn.git", "GitLabProjectPath=acme/ml/churn"),
    ],
)
def test_infra_deploy_runs_cloudformation_deploy_with_the_remotes_project(
    stacks: dict[str, Path],
    run: Callable[..., Any],
    tmp_path: Path,
    ci: str,
    remote: str,
    parameter: str,
) -> None:
    """`make sagemaker-infra-deploy` with a stand-in `aws` that records its arguments."""
    project = stacks[ci].parents[2]
    calls = tmp_path / "calls.txt"
    (tmp_path / "aws").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (tmp_path / "aws").chmod(0o755)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}"}
    run(["git", "init", "-q"], cwd=project)
    refused = run(["make", "sagemaker-infra-deploy"], cwd=project, env=env, check=False)
    assert refused.returncode != 0
    assert "set SAGEMAKER_CI_PROJECT=" in refused.stdout  # no remote to read it from
    assert not calls.exists()
    run(["git", "remote", "add", "origin", remote], cwd=project)
    run(["make", "sagemaker-infra-deploy"], cwd=project, env=env)
    deploy, outputs = calls.read_text().splitlines()
    assert deploy.split() == [
        "cloudformation",
        "deploy",
        "--template-file",
        STACK,
        "--stack-name",
        "my-ml-project-sagemaker",
        "--capabilities",
        "CAPABILITY_NAMED_IAM",
        "--no-fail-on-empty-changeset",
        "--tags",
        "project=my-ml-project",
        "--parameter-overrides",
        "Name=my-ml-project",
        parameter,
    ]
    assert outputs.startswith("cloudformation describe-stacks --stack-name my-ml-project-sagemaker")
    # The parameters it passes are the stack's own.
    assert {"Name", parameter.split("=")[0]} <= set(load(stacks[ci])["Parameters"])


def test_infra_lint_target_checks_the_stack(
    stacks: dict[str, Path], run: Callable[..., Any]
) -> None:
    project, stack = stacks["gitlab"].parents[2], stacks["gitlab"]
    proc = run(["make", "sagemaker-infra-lint"], cwd=project)
    assert "Passed checks: " in proc.stdout
    assert "Failed checks: 0, Skipped checks: 1" in proc.stdout
    good = stack.read_text()
    try:  # a misspelt property fails the target (cfn-lint, before checkov)
        stack.write_text(good.replace("ScanOnPush:", "ScanOnPsh:"))
        broken = run(["make", "sagemaker-infra-lint"], cwd=project, check=False)
    finally:
        stack.write_text(good)
    assert broken.returncode != 0
    assert "E3002" in broken.stdout
