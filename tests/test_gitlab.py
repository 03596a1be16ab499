"""The `ci` answer: GitLab CI/CD as the second CI system, at parity with the GitHub workflows.

Exactly one CI system's files are rendered. The generated .gitlab-ci.yml of every platform
combination passes GitLab's CI schema (check-jsonschema's vendored copy); the make commands of
each stage equal the GitHub workflows' for the same answers; no job reads a stored secret; and
the lint and test jobs really run, offline, with gitlab-ci-local (npm, pinned by
tests/package-lock.json) in shell mode. Switching the answer with `copier update` is in
tests/test_update.py.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, project_files, run_command

BIN = Path(sys.executable).parent  # the template's .venv: check-jsonschema
GITLAB_CI_LOCAL = REPO / "tests" / "node_modules" / ".bin" / "gitlab-ci-local"
NEXT_PYTHON = {"3.11": "3.12", "3.12": "3.13", "3.13": "3.14"}

ANSWER_SETS = {
    "defaults": {},
    "no-docker": {"use_docker": False},
    "py312-databricks": {"python_version": "3.12", "platforms": ["databricks"]},
    "sagemaker-airflow": {"platforms": ["sagemaker"], "orchestrator": "airflow"},
    "py313-kubernetes-airflow": {
        "python_version": "3.13",
        "platforms": ["kubernetes"],
        "orchestrator": "airflow",
    },
    "all-platforms": {"platforms": ["databricks", "sagemaker", "kubernetes"]},
}

# Which GitLab stage each GitHub job belongs to. A GitHub job missing here fails the parity
# test: a new job needs its GitLab twin. release.yml's `checks` calls ci.yml, whose jobs run in
# the tag's pipeline on GitLab.
GITHUB_STAGES = {
    ("ci", "lint"): "lint",
    ("ci", "test"): "test",
    ("ci", "build"): "build",
    ("ci", "image"): "build",
    ("ci", "orchestrator"): "validate",
    ("release", "build"): "release",
    ("release", "pypi"): "release",
    ("release", "image"): "release",
    ("databricks-bundle", "spark"): "test",
    ("databricks-bundle", "validate"): "validate",
    ("databricks-bundle", "deploy"): "deploy",
    ("kubernetes", "render"): "validate",
    ("kubernetes", "apply"): "deploy",
    ("sagemaker", "sagemaker"): "deploy",
}
GITLAB_STAGES = ["lint", "test", "build", "validate", "deploy", "release"]

# Variables the jobs may read beyond GitLab's predefined CI_* ones, the pipeline's own and the
# OIDC tokens: CI/CD settings that name things and grant nothing (an ARN, a region, a host, a
# client ID, an agent's context).
SETTINGS = {"AWS_ROLE_ARN", "AWS_REGION", "DATABRICKS_HOST", "DATABRICKS_CLIENT_ID", "KUBE_CONTEXT"}
DEPLOY_JOBS = {
    "databricks": {"databricks-deploy"},
    "kubernetes": {"kubernetes-deploy"},
    "sagemaker": {"sagemaker-deploy", "sagemaker-transform", "sagemaker-cleanup"},
}


@pytest.fixture(scope="module", params=list(ANSWER_SETS), ids=list(ANSWER_SETS))
def rendered(request: pytest.FixtureRequest, copie_session: Any) -> dict[str, Any]:
    """The same answers rendered with ci=github and ci=gitlab."""
    answers: dict[str, Any] = ANSWER_SETS[request.param]
    projects = {}
    for ci in ("github", "gitlab"):
        result = copie_session.copy(extra_answers={**answers, "ci": ci}, vcs_ref="HEAD")
        assert result.exit_code == 0, result.exception
        projects[ci] = Path(result.project_dir)
    defaults = {"python_version": "3.11", "use_docker": True, "platforms": []}
    return {"answers": {**defaults, **answers}, **projects}


def pipeline(project: Path) -> dict[str, Any]:
    data = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    assert isinstance(data, dict)
    return data


def resolved_jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The visible jobs, each with the keys it `extends` filled in (GitLab merges hashes deeply)."""

    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        merged = dict(base)
        for key, value in over.items():
            both = isinstance(value, dict) and isinstance(merged.get(key), dict)
            merged[key] = merge(merged[key], value) if both else value
        return merged

    def resolve(name: str) -> dict[str, Any]:
        job = dict(config[name])
        parents = job.pop("extends", [])
        result: dict[str, Any] = {}
        for parent in [parents] if isinstance(parents, str) else parents:
            result = merge(result, resolve(parent))
        return merge(result, job)

    keywords = {"workflow", "stages", "variables", "default", "include"}
    return {
        name: resolve(name)
        for name, value in config.items()
        if isinstance(value, dict) and not name.startswith(".") and name not in keywords
    }


def make_commands(lines: list[str]) -> list[tuple[str, ...]]:
    """The `make` commands among shell lines, as argument tuples."""
    return [tuple(shlex.split(line)[1:]) for line in lines if line.startswith("make ")]


Sequence = tuple[tuple[str, ...], ...]  # a job's make commands, in order


def gitlab_stages(project: Path) -> dict[str, list[Sequence]]:
    """Per stage, each job's make commands in order (jobs of a stage run side by side)."""
    stages: dict[str, list[Sequence]] = {}
    for job in resolved_jobs(pipeline(project)).values():
        if commands := make_commands(job["script"]):
            stages.setdefault(job["stage"], []).append(tuple(commands))
    return {stage: sorted(jobs) for stage, jobs in stages.items()}


def github_stages(project: Path) -> dict[str, list[Sequence]]:
    """The same for the GitHub workflows; a step with its own `if` (the SageMaker workflow's
    actions) is a job of its own, as on GitLab."""
    stages: dict[str, list[Sequence]] = {}
    for path in sorted((project / ".github" / "workflows").glob("*.yml")):
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            if "uses" in job:  # release.yml calling ci.yml
                continue
            stage = GITHUB_STAGES[(path.stem, name)]
            runs = [step for step in job["steps"] if "run" in step]
            sequences = [make_commands([s["run"] for s in runs if "if" not in s])]
            sequences += [make_commands([s["run"]]) for s in runs if "if" in s]
            for commands in sequences:
                if commands:
                    stages.setdefault(stage, []).append(tuple(commands))
    return {stage: sorted(jobs) for stage, jobs in stages.items()}


# --- rendering ------------------------------------------------------------------------------


def test_exactly_one_ci_system_is_rendered(rendered: dict[str, Any]) -> None:
    github, gitlab = project_files(rendered["github"]), project_files(rendered["gitlab"])
    assert ".gitlab-ci.yml" not in github
    assert not [f for f in gitlab if f.startswith(".github/")]  # no workflows, no dependabot
    assert {f for f in github if f.startswith(".github/")} | {".gitlab-ci.yml"} == (
        github ^ gitlab
    ) - {".gitignore"}
    assert ".uv-cache/" in (rendered["gitlab"] / ".gitignore").read_text()  # GitLab's uv cache
    readme = (rendered["gitlab"] / "README.md").read_text()
    ci_section = readme[readme.index("## CI and releases") :].split("\n## ", 1)[0]
    assert "`.gitlab-ci.yml` runs on merge requests" in ci_section
    assert ".github" not in ci_section
    assert ".gitlab-ci.yml" not in (rendered["github"] / "README.md").read_text()


def test_the_pipeline_matches_gitlabs_schema(rendered: dict[str, Any], tmp_path: Path) -> None:
    path = rendered["gitlab"] / ".gitlab-ci.yml"
    check = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci"]
    check += ["--data-transform", "gitlab-ci"]
    proc = run_command([*check, str(path)], None, os.environ, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The schema does see a misspelt keyword and a wrong environment action.
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text(path.read_text().replace("  script:", "  scirpt:", 1))
    assert run_command([*check, str(broken)], None, os.environ, check=False).returncode == 1
    broken.write_text(path.read_text().replace("lint:\n", "lint:\n  environment: {action: go}\n"))
    assert run_command([*check, str(broken)], None, os.environ, check=False).returncode == 1


# --- parity with the GitHub workflows ---------------------------------------------------------


def test_each_stage_runs_the_same_make_commands_as_github(rendered: dict[str, Any]) -> None:
    gitlab, github = gitlab_stages(rendered["gitlab"]), github_stages(rendered["github"])
    print(f"\n{rendered['answers']['platforms']}: {gitlab}")
    assert gitlab == github
    config = pipeline(rendered["gitlab"])
    assert config["stages"] == GITLAB_STAGES
    assert list(gitlab) == [s for s in GITLAB_STAGES if s in gitlab]  # stage order
    # The same Pythons as GitHub's test matrix: the project's and the next.
    python = rendered["answers"]["python_version"]
    (matrix,) = config["test"]["parallel"]["matrix"]
    assert matrix == {"UV_PYTHON": [python, NEXT_PYTHON[python]]}


def test_rules_caching_and_environments(rendered: dict[str, Any]) -> None:
    config = pipeline(rendered["gitlab"])
    conditions = [rule["if"] for rule in config["workflow"]["rules"]]
    assert '$CI_PIPELINE_SOURCE == "merge_request_event"' in conditions
    assert "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH" in conditions
    assert "$CI_COMMIT_TAG =~ /^v/" in conditions
    jobs = resolved_jobs(config)
    for name in ("lint", "test", "build"):  # uv's cache, keyed by the lock file
        assert jobs[name]["cache"] == {"key": {"files": ["uv.lock"]}, "paths": [".uv-cache"]}
    assert config["variables"]["UV_CACHE_DIR"] == "$CI_PROJECT_DIR/.uv-cache"
    if rendered["answers"]["use_docker"]:  # no Docker daemon: buildah
        assert jobs["container-image"]["variables"]["CONTAINER"] == "buildah"
        assert "docker" not in jobs["container-image"]["image"]
    for job in ("release-build", "pypi", *(["release-image"] if "release-image" in jobs else [])):
        assert jobs[job]["rules"] == [{"if": "$CI_COMMIT_TAG =~ /^v/"}], job
    assert jobs["pypi"]["id_tokens"] == {"PYPI_ID_TOKEN": {"aud": "pypi"}}
    assert jobs["pypi"]["environment"]["name"] == "pypi"
    deploys = {j for p in rendered["answers"]["platforms"] for j in DEPLOY_JOBS[p]}
    for name in deploys:  # the default branch only, in an environment, never cancelled
        job = jobs[name]
        assert [rule["if"] for rule in job["rules"]] == ["$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"]
        assert job["environment"]["name"]
        assert job["interruptible"] is False
        assert job["resource_group"]
    for name, job in jobs.items():  # cloud credentials only from OIDC tokens
        if name.startswith(("sagemaker-", "bundle-")):
            assert job.get("id_tokens"), name
    if "sagemaker" in rendered["answers"]["platforms"]:
        stack = yaml.safe_load((rendered["gitlab"] / "deploy/sagemaker/stack.yaml").read_text())
        trust = stack["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]
        (statement,) = trust["Statement"]
        audience = statement["Condition"]["StringEquals"]["gitlab.com:aud"]
        for name in DEPLOY_JOBS["sagemaker"]:
            assert jobs[name]["id_tokens"]["AWS_ID_TOKEN"]["aud"] == audience
            assert jobs[name]["rules"][0]["when"] == "manual"


def test_no_job_reads_a_stored_secret(rendered: dict[str, Any]) -> None:
    text = (rendered["gitlab"] / ".gitlab-ci.yml").read_text()
    config = pipeline(rendered["gitlab"])
    own = set(config["variables"])
    tokens = set()
    for value in config.values():
        if isinstance(value, dict):
            own |= set(value.get("variables", {}))
            tokens |= set(value.get("id_tokens", {}))
            for entry in value.get("parallel", {}).get("matrix", []):
                own |= set(entry)
    referenced = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text))
    unknown = {v for v in referenced if not v.startswith("CI_")} - own - tokens - SETTINGS
    assert unknown == set(), unknown
    assert not re.search(r"AWS_(ACCESS|SECRET)|_API_KEY|KUBECONFIG|DATABRICKS_TOKEN", text)


# --- running it -------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_lint_and_test_jobs_run_with_gitlab_ci_local(
    render: Callable[..., Path],
    run: Callable[..., subprocess.CompletedProcess[str]],
    record_property: Callable[[str, object], None],
) -> None:
    """gitlab-ci-local runs the jobs' scripts in shell mode, each in its own copy of the project.

    The machine's uv cache and interpreters stand in for the jobs' image and GitLab's cache (no
    container engine, no downloads); uv.lock is committed, as in a real project.
    """
    project = render(ci="gitlab")
    run(["make", "install"], cwd=project)  # writes uv.lock
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "init"]):
        run([*git, *command], cwd=project)
    cache = run(["uv", "cache", "dir"], cwd=project).stdout.strip()
    command = [str(GITLAB_CI_LOCAL), "--shell-isolation", "--force-shell-executor"]
    command += ["--no-evaluate-rule-changes", "--variable", f"UV_CACHE_DIR={cache}"]
    command += ["--variable", "UV_PYTHON_DOWNLOADS=never", "--concurrency", "1"]
    started = time.monotonic()
    proc = run([*command, "lint", "test"], cwd=project, check=False)
    record_property(
        "wall time", f"gitlab-ci-local lint, test x2: {time.monotonic() - started:.0f} s"
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    for job in ("lint", "test: [3.11]", "test: [3.12]"):
        assert f" PASS  {job}" in output, job
    assert "All checks passed!" in output  # ruff really ran
    assert re.search(r"test: \[3\.12\] .*\d+ passed", output)  # pytest really ran
    print("\n" + "\n".join(line for line in output.splitlines() if "PASS" in line))
