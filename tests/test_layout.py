"""Each platform owns its folder: a make fragment, a README next to its files, one vocabulary.

A project with every platform and the orchestrator is rendered once; `make` runs in it without
installing anything (`make help`, `make -n`), so the module is quick.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import makefile

Run = Callable[..., subprocess.CompletedProcess[str]]
PLATFORMS = ["databricks", "sagemaker", "kubernetes"]
PAGES = {  # the platform's page, next to its files, and its make fragment
    "databricks": ("resources/README.md", "make/databricks.mk"),
    "kubernetes": ("deploy/kubernetes/README.md", "make/kubernetes.mk"),
    "sagemaker": ("deploy/sagemaker/README.md", "make/sagemaker.mk"),
    "airflow": ("dags/README.md", "make/airflow.mk"),
}
DEPRECATED = re.compile(r"^\$\(eval \$\(call deprecated,([\w-]+),([\w-]+)\)\)$", re.MULTILINE)


@pytest.fixture(scope="module", params=["github", "gitlab"])
def project(copie_session: Any, request: pytest.FixtureRequest) -> Path:
    answers = {"platforms": PLATFORMS, "orchestrator": "airflow", "ci": request.param}
    result = copie_session.copy(extra_answers=answers, vcs_ref="HEAD")
    assert result.exit_code == 0, result.exception
    return Path(result.project_dir)


def defined_targets(project: Path) -> set[str]:
    return set(re.findall(r"^([a-zA-Z][\w-]*):", makefile(project), flags=re.MULTILINE))


def documented_targets(project: Path) -> set[str]:
    """Targets of every fragment's `## help` comment."""
    return set(re.findall(r"^([a-zA-Z][\w-]*):.*## ", makefile(project), flags=re.MULTILINE))


def test_each_platform_has_its_page_and_fragment(project: Path) -> None:
    readme = (project / "README.md").read_text()
    for name, (page, fragment) in PAGES.items():
        assert (project / page).is_file(), page
        assert f"]({page})" in readme, f"README.md does not link {page}"
        fragment_text = (project / fragment).read_text()
        own = re.findall(r"^([a-zA-Z][\w-]*):.*## ", fragment_text, flags=re.MULTILINE)
        assert own, fragment
        # One vocabulary: every target a fragment documents is <platform>-<verb>.
        assert all(target.startswith(f"{name}-") for target in own), (fragment, own)
    # The shared Makefile holds no platform's targets.
    main = (project / "Makefile").read_text()
    assert not re.search(r"^(databricks|sagemaker|kubernetes|airflow)-[\w-]+:", main, re.MULTILINE)


def test_make_help_lists_every_target_of_every_fragment(project: Path, run: Run) -> None:
    listed = {line.split()[0] for line in run(["make", "help"], cwd=project).stdout.splitlines()}
    documented = documented_targets(project)
    assert {f"{p}-deploy" for p in PLATFORMS} <= documented
    assert documented <= listed, documented - listed


def commands(text: str) -> list[str]:
    """The `make ...` commands of a page: in code spans and at the start of code lines."""
    spans = re.findall(r"`(make [^`]+)`", text)
    lines = re.findall(r"^(make [^#\n]+)", text, flags=re.MULTILINE)
    # A command ends where the shell starts the next one (`make x && kind load ...`).
    return [re.split(r"&&|\|\||;|\|", command)[0].strip() for command in spans + lines]


def test_every_make_command_of_the_pages_exists(project: Path) -> None:
    defined = defined_targets(project)
    pages = ["README.md", *(page for page, _ in PAGES.values())]
    for page in pages:
        found = commands((project / page).read_text())
        assert found or page == "README.md", f"{page} names no make command"
        for command in found:
            targets = [word for word in shlex.split(command)[1:] if "=" not in word]
            for target in targets:
                assert re.fullmatch(r"[a-z][\w-]*", target), f"{page}: `{command}`"
                assert target in defined, f"{page}: `{command}`: no target {target}"


def test_old_target_names_run_the_new_ones_with_a_notice(project: Path, run: Run) -> None:
    renames = DEPRECATED.findall(makefile(project))
    assert ("k8s-apply", "kubernetes-deploy") in renames
    assert ("bundle-deploy", "databricks-deploy") in renames
    for old, new in renames:
        assert old not in documented_targets(project)  # not in `make help`
        dry = run(["make", "-n", "--no-print-directory", old], cwd=project).stdout
        assert f"make {old} is deprecated and goes in the next release: use make {new}" in dry
        expected = run(["make", "-n", "--no-print-directory", new], cwd=project).stdout
        assert expected.strip()
        stamp = re.compile(r"\d{8}-\d{6}")  # a Job's name holds the second it was made
        dry, expected = (stamp.sub("<time>", text.rstrip()) for text in (dry, expected))
        assert dry.endswith(expected), old


def test_one_environment_variable_for_every_platform(project: Path, run: Run) -> None:
    prod = {
        "databricks-deploy": "bundle deploy --target prod",
        "kubernetes-deploy": "apply -k deploy/kubernetes/overlays/prod",
    }
    for target, command in prod.items():
        assert command in run(["make", "-n", target, "ENV=prod"], cwd=project).stdout
    # Databricks' old variable still works for one release, with a notice.
    old = run(["make", "-n", "databricks-deploy", "TARGET=prod"], cwd=project)
    assert "bundle deploy --target prod" in old.stdout
    assert "TARGET is deprecated and goes in the next release: use ENV=prod" in old.stderr
    assert "TARGET" not in run(["make", "-n", "databricks-deploy"], cwd=project).stderr
