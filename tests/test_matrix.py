"""Every answer combination copier.yml accepts gives a project that lints, type-checks and collects.

The cheap pass covers the whole matrix: every subset of the platforms x python_version x
use_docker x use_docs x license x task, the values read from copier.yml, and every subset of the
platforms x use_docker x the answers that add a folder beside the package (SIDE_AXES: the
orchestrator, the CI system), the rest at their defaults. It is rendered once per
session (copier's API in a process pool, one folder per combination; xdist workers share it under
a file lock); a combination the rules forbid must be refused by its validator and write nothing.
One ruff run lints and format-checks every rendered tree, each under its own pyproject.toml. The
trees are then deduplicated by what type checking and test collection read (every *.py file and
the [tool] tables of pyproject.toml; license, docs and docker answers do not change them), and
each unique tree is type-checked with pyrefly and collected by pytest in a virtualenv shared per
Python version: the dependencies of that version's widest project, without the package itself,
so the tree's own src/ is what gets imported.

A covering subset, every answer value and every platform pair at least once, then runs the full
`make install lint test` and each platform's validators (tests/conftest.py holds them).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import pytest
import yaml

from conftest import (
    BIN,
    KUBERNETES_VERSIONS,
    REPO,
    assert_bundles_match_the_schema,
    bundle_files,
    exclusive,
    kubernetes_validate,
    kustomize_overlays,
    run_command,
    sagemaker_dry_runs,
)

COPIER = yaml.safe_load((REPO / "copier.yml").read_text())
AXES = ("python_version", "use_docker", "use_docs", "license", "task")  # beside platforms
# Answers that add a folder of their own beside the package (an orchestrator, a CI system):
# they meet the platforms and the image, not the Python version, license or task, so they are
# crossed with every platform subset and `use_docker`, the other answers at their defaults.
SIDE_AXES = ("orchestrator", "ci")
CPUS = len(os.sched_getaffinity(0))


def choices(question: str) -> list[Any]:
    """Every value copier.yml offers for a question."""
    spec = COPIER[question]
    if spec["type"] == "bool":
        return [True, False]
    values = spec["choices"]
    return list(values.values()) if isinstance(values, dict) else list(values)


PLATFORMS = choices("platforms")
SUBSETS = [list(s) for n in range(len(PLATFORMS) + 1) for s in itertools.combinations(PLATFORMS, n)]
SIDE_DEFAULTS = {question: COPIER[question]["default"] for question in SIDE_AXES}
COMBINATIONS: list[dict[str, Any]] = [
    {"platforms": subset, **dict(zip(AXES, values, strict=True)), **SIDE_DEFAULTS}
    for subset in SUBSETS
    for values in itertools.product(*map(choices, AXES))
] + [
    {
        "platforms": subset,
        **{question: COPIER[question]["default"] for question in AXES},
        "use_docker": use_docker,
        **dict(zip(SIDE_AXES, side, strict=True)),
    }
    for subset in SUBSETS
    for use_docker in choices("use_docker")
    for side in itertools.product(*map(choices, SIDE_AXES))
    if list(side) != list(SIDE_DEFAULTS.values())
]


def label(answers: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in answers.items())


def refusal(answers: dict[str, Any]) -> tuple[str, str] | None:
    """The rules of the issue: the question that must refuse these answers and its message."""
    questions = ("platforms", *AXES, *SIDE_AXES)
    answers = {question: COPIER[question]["default"] for question in questions} | answers
    platforms = answers["platforms"]
    if "databricks" in platforms and answers["python_version"] == "3.13":
        return "platforms", "with databricks, choose python_version 3.12 or 3.11."
    image = [p for p in ("kubernetes", "sagemaker") if p in platforms]
    if image and not answers["use_docker"]:
        return "use_docker", f"The {image[0]} platform runs the project's image"
    return None


def read_by_validation() -> set[str]:
    """The answers copier's validation can depend on: what validators, conditions and defaults
    of copier.yml's questions read."""
    environment = jinja2.Environment(  # with the filters copier adds
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"]
    )
    names: set[str] = set()
    for question, spec in COPIER.items():
        if not question.startswith("_") and isinstance(spec, dict):
            for template in (spec.get(key) for key in ("validator", "when", "default")):
                if isinstance(template, str):
                    names |= jinja2.meta.find_undeclared_variables(environment.parse(template))
    return names


# Combinations that give the same answers to what validation reads are accepted or refused
# together: each such group is tried once, and every combination the rules accept is rendered.
DECIDING = sorted(read_by_validation() & {"platforms", *AXES, *SIDE_AXES})
FIRST_OF_GROUP: dict[str, int] = {}
for _index, _answers in enumerate(COMBINATIONS):
    FIRST_OF_GROUP.setdefault(json.dumps([_answers[q] for q in DECIDING]), _index)
TRIED = sorted(
    {*FIRST_OF_GROUP.values(), *(i for i, a in enumerate(COMBINATIONS) if not refusal(a))}
)


def first_of_group(answers: dict[str, Any]) -> int:
    return FIRST_OF_GROUP[json.dumps([answers[q] for q in DECIDING])]


def hide_git() -> None:
    """Take git off PATH in a render process: neither the template snapshot nor the trees are git
    repositories, and without git copier skips a `git config` call per rendered file (about
    0.15 s of a 0.7 s render). Copier is imported later, in `render_combination`: plumbum, which
    runs its commands, copies PATH when it is imported."""
    directories = os.environ["PATH"].split(os.pathsep)
    kept = [d for d in directories if not (Path(d) / "git").exists()]
    os.environ["PATH"] = os.pathsep.join(kept)


def render_combination(template: str, destination: str, answers: dict[str, Any]) -> str | None:
    """Render one combination (in a pool process); the validation error, or None when rendered."""
    from copier import run_copy

    try:
        run_copy(template, destination, data=answers, defaults=True, quiet=True)
    except ValueError as error:
        return str(error)
    return None


# --- the matrix, rendered once per session ------------------------------------------------------


def checked_content(tree: Path) -> str:
    """Hash of what pyrefly and pytest read: every *.py file and pyproject's [tool] tables."""
    digest = hashlib.sha256()
    for path in sorted(tree.rglob("*.py")):
        digest.update(f"{path.relative_to(tree).as_posix()}\0".encode() + path.read_bytes())
    tool = tomllib.loads((tree / "pyproject.toml").read_text())["tool"]
    digest.update(json.dumps(tool, sort_keys=True).encode())
    return digest.hexdigest()


def requirement_names(tree: Path) -> set[str]:
    """The distributions `make install` puts in the project's environment (default group)."""
    pyproject = tomllib.loads((tree / "pyproject.toml").read_text())
    groups = pyproject["dependency-groups"]

    def group(name: str) -> Iterator[str]:
        for item in groups[name]:
            yield from group(item["include-group"]) if isinstance(item, dict) else [item]

    requirements = [*pyproject["project"]["dependencies"], *group("dev")]
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in requirements}


@dataclass(frozen=True)
class Matrix:
    """The rendered matrix: a folder per combination index, refusals and shared virtualenvs."""

    root: Path
    refused: dict[int, str]
    venvs: dict[str, Path]  # python_version -> the widest project of that version, synced
    seconds: float

    def tree(self, index: int) -> Path:
        return self.root / "trees" / f"{index:03d}"

    @cached_property
    def rendered(self) -> list[int]:
        return [i for i in TRIED if i not in self.refused]

    @cached_property
    def unique(self) -> dict[str, list[int]]:
        """Combination indexes grouped by checked content; the first one stands for its group."""
        groups: dict[str, list[int]] = {}
        for index in self.rendered:
            groups.setdefault(checked_content(self.tree(index)), []).append(index)
        return groups

    def python(self, index: int) -> Path:
        return self.venvs[COMBINATIONS[index]["python_version"]] / ".venv" / "bin" / "python"


def shared_dir(factory: pytest.TempPathFactory) -> Path:
    """This session's temporary root, shared by its xdist workers."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build(root: Path, env: dict[str, str]) -> None:
    """Render every combination and sync the shared virtualenvs meanwhile; manifest.json last."""
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    # A snapshot of the template with its uncommitted changes: no git clone per render.
    template = root / "template"
    shutil.copytree(REPO / COPIER["_subdirectory"], template / COPIER["_subdirectory"])
    shutil.copy(REPO / "copier.yml", template)
    syncs = {}
    for python in choices("python_version"):  # the widest project each version accepts
        venv = root / "venvs" / python
        for subset in sorted(SUBSETS, key=len, reverse=True):
            answers = {"platforms": subset, "python_version": python}
            if render_combination(str(template), str(venv), answers) is None:
                break
        command = [str(BIN / "uv"), "sync", "--no-install-project", "--compile-bytecode"]
        command += ["--python", python]  # as `make install` under PYTHONDONTWRITEBYTECODE
        with (root / f"venv-{python}.log").open("w") as log:
            syncs[python] = subprocess.Popen(command, cwd=venv, env=env, stdout=log, stderr=log)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(CPUS, mp_context=spawn, initializer=hide_git) as pool:
        destinations = [str(root / "trees" / f"{i:03d}") for i in TRIED]
        answers = [COMBINATIONS[i] for i in TRIED]
        template_path = itertools.repeat(str(template))
        errors = list(
            pool.map(render_combination, template_path, destinations, answers, chunksize=8)
        )
    for python, sync in syncs.items():
        log = root / f"venv-{python}.log"
        assert sync.wait() == 0, f"uv sync of the {python} virtualenv failed:\n{log.read_text()}"
    manifest = {
        "refused": {i: error for i, error in zip(TRIED, errors, strict=True) if error is not None},
        "venvs": {python: str(root / "venvs" / python) for python in syncs},
        "seconds": time.perf_counter() - started,
    }
    (root / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="session")
def matrix(tmp_path_factory: pytest.TempPathFactory, project_env: dict[str, str]) -> Matrix:
    root = shared_dir(tmp_path_factory) / "answer-matrix"
    with exclusive(root.parent / "answer-matrix.lock"):  # the first worker builds, others wait
        if not (root / "manifest.json").is_file():
            build(root, project_env)
    manifest = json.loads((root / "manifest.json").read_text())
    return Matrix(
        root=root,
        refused={int(i): error for i, error in manifest["refused"].items()},
        venvs={python: Path(path) for python, path in manifest["venvs"].items()},
        seconds=manifest["seconds"],
    )


def in_parallel(jobs: list[Any], work: Callable[[Any], Any]) -> list[Any]:
    """Run subprocess-bound work on every core (threads: the work is in the subprocesses)."""
    with ThreadPoolExecutor(CPUS) as pool:
        return list(pool.map(work, jobs))


# --- the cheap pass over every combination ------------------------------------------------------


def test_every_combination_renders_or_is_refused_by_its_rule(
    matrix: Matrix, record_property: Callable[[str, object], None]
) -> None:
    """Accepted exactly where the rules allow; a refusal names the question and writes nothing.
    A combination the rules refuse stands or falls with its group's first (see DECIDING)."""
    assert {"platforms", "python_version", "use_docker"} <= set(DECIDING)
    for index, answers in enumerate(COMBINATIONS):
        expected, tree = refusal(answers), matrix.tree(index)
        if expected is None:
            assert index not in matrix.refused, f"{label(answers)}: {matrix.refused[index]}"
            recorded = yaml.safe_load((tree / ".copier-answers.yml").read_text())
            assert {key: recorded[key] for key in answers} == answers, label(answers)
        else:
            question, message = expected
            error = matrix.refused.get(first_of_group(answers), "rendered")
            assert error.startswith(f"Validation error for question '{question}': "), error
            assert message in error, f"{label(answers)}: {error}"
            assert not tree.exists(), label(answers)
    assert set(matrix.rendered) == {i for i, a in enumerate(COMBINATIONS) if not refusal(a)}
    record_property(
        "wall time",
        f"{len(COMBINATIONS)} combinations: {len(matrix.rendered)} rendered, "
        f"{len(COMBINATIONS) - len(matrix.rendered)} refused ({len(matrix.refused)} tried), "
        f"{len(matrix.unique)} unique trees; rendered with "
        f"{CPUS} processes and shared virtualenvs synced in {matrix.seconds:.0f} s",
    )


@pytest.mark.parametrize(
    "answers",
    [
        {"platforms": ["databricks"], "python_version": "3.13"},
        {"platforms": ["kubernetes"], "use_docker": False},
        {"platforms": ["sagemaker"], "use_docker": False},
        # Both rules broken: the first question's validator stops copier.
        {"platforms": PLATFORMS, "python_version": "3.13", "use_docker": False},
    ],
    ids=["databricks-py3.13", "kubernetes-no-docker", "sagemaker-no-docker", "both-rules"],
)
def test_invalid_answers_are_refused_with_a_clear_error_and_write_nothing(
    answers: dict[str, Any], tmp_path: Path
) -> None:
    """From the repository itself (its HEAD plus uncommitted changes), as `copier copy` reads it."""
    from copier import run_copy

    expected = refusal(answers)
    assert expected is not None
    question, message = expected
    destination = tmp_path / "project"
    with pytest.raises(ValueError, match=f"^Validation error for question '{question}': ") as error:
        run_copy(str(REPO), destination, data=answers, defaults=True, vcs_ref="HEAD", quiet=True)
    assert message in str(error.value)
    assert list(tmp_path.iterdir()) == []


# ruff must flag this module under the project's configuration only: pydocstyle's D103 is not in
# ruff's defaults, and its last statement is formatted for line-length 100, not the default 88.
RUFF_CONTROL = '''\
"""A module that passes ruff's default configuration and fails the project's."""


def undocumented(first_argument: int, second_argument: int) -> int:
    return first_argument + second_argument


TOTAL = undocumented(
    first_argument=1_000_000_000_000_000, second_argument=2_000_000_000_000_000_000_000_000
)
'''


def control_tree(matrix: Matrix, name: str, module: str, text: str) -> Path:
    """A copy of the first rendered tree with one more module in its package."""
    tree = matrix.root / "controls" / name
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(matrix.tree(matrix.rendered[0]), tree)
    (package,) = (tree / "src").iterdir()
    (package / module).write_text(text)
    return tree


def test_every_tree_is_ruff_clean_and_formatted_as_rendered(
    matrix: Matrix, record_property: Callable[[str, object], None]
) -> None:
    """One `ruff check` and one `ruff format --check` over every tree plus a control tree: ruff
    finds each tree's own pyproject.toml, which only the control's finding can prove."""
    started = time.perf_counter()
    control = control_tree(matrix, "ruff", "ruff_control.py", RUFF_CONTROL)
    trees = [str(matrix.tree(i).relative_to(matrix.root)) for i in matrix.rendered]
    trees.append(str(control.relative_to(matrix.root)))
    ruff = str(matrix.python(matrix.rendered[0]).parent / "ruff")  # the projects' own ruff
    env = dict(os.environ)
    check = [ruff, "check", "--no-cache", "--output-format", "json", *trees]
    found = json.loads(run_command(check, matrix.root, env, check=False).stdout)
    findings = {(Path(f["filename"]).relative_to(matrix.root).as_posix(), f["code"]) for f in found}
    (module,) = control.glob("src/*/ruff_control.py")
    assert findings == {(module.relative_to(matrix.root).as_posix(), "D103")}
    formatted = run_command([ruff, "format", "--check", "--no-cache", *trees], matrix.root, env)
    files = sum(1 for tree in trees for _ in (matrix.root / tree).rglob("*.py"))
    counted = re.fullmatch(r"(\d+) files already formatted\n", formatted.stdout)
    assert counted, formatted.stdout
    assert int(counted[1]) >= files  # newer ruff also formats the Python blocks of Markdown files
    record_property(
        "wall time",
        f"ruff over {len(trees)} trees ({files} files): {time.perf_counter() - started:.1f} s",
    )


def test_shared_virtualenvs_hold_every_dependency_but_not_the_package(matrix: Matrix) -> None:
    """What a unique tree's `make install` would install is there, and its own package is not:
    nothing shadows the tree under test."""
    for indexes in matrix.unique.values():
        python = {COMBINATIONS[i]["python_version"] for i in indexes}
        assert len(python) == 1, "a tree's Python version is part of its checked content"
        venv = matrix.venvs[python.pop()]
        assert requirement_names(matrix.tree(indexes[0])) <= requirement_names(venv)
    for venv in matrix.venvs.values():
        python = str(venv / ".venv" / "bin" / "python")
        find = "import importlib.util as u, sys; sys.exit(u.find_spec('my_ml_project') is not None)"
        run_command([python, "-c", find], matrix.root, os.environ)


def test_every_unique_tree_type_checks(
    matrix: Matrix, record_property: Callable[[str, object], None]
) -> None:
    """pyrefly with each tree's own configuration and its Python's shared virtualenv; a control
    tree with a type error must fail."""
    started = time.perf_counter()
    control = control_tree(matrix, "pyrefly", "pyrefly_control.py", 'BROKEN: int = "one"\n')
    jobs = [
        (matrix.tree(indexes[0]), matrix.python(indexes[0])) for indexes in matrix.unique.values()
    ]
    jobs.append((control, matrix.python(matrix.rendered[0])))

    def pyrefly(job: tuple[Path, Path]) -> subprocess.CompletedProcess[str]:
        tree, python = job
        command = [
            str(python.parent / "pyrefly"),
            "check",
            "--python-interpreter-path",
            str(python),
        ]
        return run_command(command, tree, os.environ, check=False, timeout=600)

    *checked, refused = in_parallel(jobs, pyrefly)
    failures = [
        f"{tree}:\n{p.stdout[-3000:]}{p.stderr[-2000:]}"
        for (tree, _), p in zip(jobs[:-1], checked, strict=True)
        if p.returncode
    ]
    assert not failures, "\n".join(failures)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "bad-assignment" in refused.stdout + refused.stderr
    record_property(
        "wall time",
        f"pyrefly over {len(checked)} unique trees: {time.perf_counter() - started:.1f} s",
    )


def distribution_metadata(tree: Path, root: Path) -> Path:
    """A folder holding only the dist-info `make install` would write: `__version__` reads it."""
    project = tomllib.loads((tree / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    folder = root / "metadata" / f"{name}-{version}"
    info = folder / f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return folder


def test_every_unique_tree_collects_its_tests(
    matrix: Matrix, record_property: Callable[[str, object], None]
) -> None:
    """`pytest --collect-only` with the project's own pytest settings (markers filter lifted,
    in-process, no coverage) imports every test module; each contributes tests."""
    started = time.perf_counter()
    collect = ["-m", "pytest", "--collect-only", "-q", "-m", "", "-n", "0", "--no-cov"]

    def collected(index: int) -> tuple[Path, subprocess.CompletedProcess[str]]:
        tree = matrix.tree(index)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(tree / "src"), str(distribution_metadata(tree, matrix.root))]
            ),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        command = [str(matrix.python(index)), *collect, "-p", "no:cacheprovider"]
        return tree, run_command(command, tree, env, check=False, timeout=600)

    problems, total = [], 0
    for tree, proc in in_parallel([indexes[0] for indexes in matrix.unique.values()], collected):
        ids = [line for line in proc.stdout.splitlines() if "::" in line]
        files = {i.split("::")[0] for i in ids}
        expected = {p.relative_to(tree).as_posix() for p in (tree / "tests").glob("test_*.py")}
        summary = re.search(rf"\b{len(ids)} tests collected\b", proc.stdout)
        if proc.returncode or files != expected or not summary:
            problems.append(f"{tree}: exit {proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr}")
        total += len(ids)
    assert not problems, "\n".join(problems)
    record_property(
        "wall time",
        f"collection of {len(matrix.unique)} unique trees ({total} tests): "
        f"{time.perf_counter() - started:.1f} s",
    )


# --- the covering subset, installed and run ------------------------------------------------------

# Every answer value and every platform pair at least once (the test below checks), beside what
# other modules already run in full: the default project and all platforms with default answers.
COVERING: dict[str, dict[str, Any]] = {
    "all-platforms-py3.12-regression-aws": {
        "platforms": ["databricks", "sagemaker", "kubernetes"],
        "python_version": "3.12",
        "task": "regression",
        "license": "Apache-2.0",
        "use_docs": True,
        "databricks_compute": "job_clusters",
        "databricks_cloud": "aws",
    },
    "databricks-sagemaker-azure-gitlab": {
        "platforms": ["databricks", "sagemaker"],
        "ci": "gitlab",
        "license": "BSD-3-Clause",
        "databricks_compute": "job_clusters",
        "databricks_cloud": "azure",
    },
    "databricks-kubernetes-py3.12-regression-gcp": {
        "platforms": ["databricks", "kubernetes"],
        "python_version": "3.12",
        "task": "regression",
        "license": "Proprietary",
        "use_docs": True,
        "databricks_compute": "job_clusters",
        "databricks_cloud": "gcp",
    },
    "sagemaker-kubernetes-py3.13-regression-airflow": {
        "platforms": ["sagemaker", "kubernetes"],
        "python_version": "3.13",
        "task": "regression",
        "orchestrator": "airflow",
    },
    "databricks-serverless-no-docker-docs": {
        "platforms": ["databricks"],
        "use_docker": False,
        "use_docs": True,
    },
}


def test_the_covering_subset_covers_every_answer_and_platform_pair() -> None:
    def values(question: str, projects: list[dict[str, Any]]) -> set[Any]:
        return {answers.get(question, COPIER[question]["default"]) for answers in projects}

    projects = list(COVERING.values())
    for answers in projects:
        assert refusal(answers) is None, answers
    for question in (*AXES, *SIDE_AXES):
        assert values(question, projects) == set(choices(question)), question
    on_databricks = [answers for answers in projects if "databricks" in answers["platforms"]]
    assert values("databricks_compute", on_databricks) == set(choices("databricks_compute"))
    on_clusters = [a for a in on_databricks if a.get("databricks_compute") == "job_clusters"]
    assert values("databricks_cloud", on_clusters) == set(choices("databricks_cloud"))
    chosen = {frozenset(answers["platforms"]) for answers in projects}
    assert {frozenset(pair) for pair in itertools.combinations(PLATFORMS, 2)} <= chosen
    assert frozenset(PLATFORMS) in chosen


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COVERING))
def test_covering_project_is_green_and_its_platforms_validate(
    name: str,
    render: Callable[..., Path],
    run: Callable[..., subprocess.CompletedProcess[str]],
    request: pytest.FixtureRequest,
    record_property: Callable[[str, object], None],
) -> None:
    """`make install lint test`, then the validators of each chosen platform."""
    started = time.perf_counter()
    answers = COVERING[name]
    project = render(**answers)
    # The slow tests differ only with kubernetes (the service's memory bound is its Deployment's).
    tests = "test-all" if "kubernetes" in answers["platforms"] else "test"
    run(["make", "install", "lint", tests], cwd=project)
    if "databricks" in answers["platforms"]:
        assert_bundles_match_the_schema(bundle_files(project))
    if "kubernetes" in answers["platforms"]:
        overlays = list(kustomize_overlays(project, request.getfixturevalue("kubectl")).values())
        for version in KUBERNETES_VERSIONS:
            assert kubernetes_validate(overlays, version) == [], version
    if "sagemaker" in answers["platforms"]:
        sagemaker_dry_runs(project, run)
    record_property("wall time", f"{name}: {time.perf_counter() - started:.0f} s")
