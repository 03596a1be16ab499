"""`copier update` lifecycle: template releases are git tags, and user work survives updates.

Each test builds its own template repository in a temporary folder (this repository's
copier.yml, template/ and migrations/ as they are in the work tree, committed and tagged 0.1.0),
renders a project from it with the copier CLI, commits the project, then changes the template,
tags the next release and updates the project. Copier always runs with stdin closed, so nothing
may prompt. This repository's own git state is never touched.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from conftest import AIRFLOW_FILES, DATABRICKS_FILES, KUBERNETES_FILES, REPO, run_command

PACKAGE = "my_ml_project"  # the default answers' package
USER_CONFIG = "configs/train.yaml"  # a job config: user-owned (`_skip_if_exists`)
DOCS_INDEX_SOURCE = "{% if use_docs %}docs{% endif %}/index.md.jinja"
COPIER = [sys.executable, "-m", "copier"]
GIT = ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Update Test",
    "GIT_AUTHOR_EMAIL": "update-test@example.com",
    "GIT_COMMITTER_NAME": "Update Test",
    "GIT_COMMITTER_EMAIL": "update-test@example.com",
}
COPY_IGNORE = shutil.ignore_patterns(
    "__pycache__", "*.py[co]", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".venv"
)


class Template:
    """A throw-away template repository: edit `template/` and `copier.yml`, tag releases."""

    def __init__(self, root: Path, env: Mapping[str, str]) -> None:
        self.root = root
        self.env = env

    def source(self, rendered: str) -> Path:
        """The template file that renders `rendered` (with or without the .jinja suffix)."""
        plain = self.root / "template" / rendered
        return plain if plain.exists() else plain.with_name(plain.name + ".jinja")

    def write(self, relpath: str, text: str) -> None:
        path = self.root / "template" / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def edit_line(self, rendered: str, index: int, text: str) -> None:
        """Replace line `index` of the file that renders `rendered` (0 = first, -1 = last)."""
        path = self.source(rendered)
        lines = path.read_text().splitlines(keepends=True)
        lines[index] = text + "\n"
        path.write_text("".join(lines))

    def insert_line(self, rendered: str, index: int, text: str) -> None:
        path = self.source(rendered)
        lines = path.read_text().splitlines(keepends=True)
        lines.insert(index, text + "\n")
        path.write_text("".join(lines))

    def append(self, rendered: str, text: str) -> None:
        path = self.source(rendered)
        path.write_text(path.read_text() + text)

    def settings(self, **changes: Any) -> None:
        """Change copier.yml keys (settings or questions); comments do not survive."""
        path = self.root / "copier.yml"
        data = yaml.safe_load(path.read_text())
        data.update(changes)
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))

    def release(self, version: str) -> None:
        run_command([*GIT, "add", "-A"], self.root, self.env)
        run_command(
            [*GIT, "commit", "-q", "--allow-empty", "-m", f"release {version}"], self.root, self.env
        )
        run_command([*GIT, "tag", version], self.root, self.env)


class Project:
    """A rendered project under git."""

    def __init__(self, root: Path, env: Mapping[str, str]) -> None:
        self.root = root
        self.env = env

    def path(self, relpath: str) -> Path:
        return self.root / relpath

    def read(self, relpath: str) -> str:
        return self.path(relpath).read_text()

    def write(self, relpath: str, text: str) -> None:
        path = self.path(relpath)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def append(self, relpath: str, text: str) -> None:
        self.write(relpath, self.read(relpath) + text)

    def edit_line(self, relpath: str, index: int, text: str) -> None:
        lines = self.read(relpath).splitlines(keepends=True)
        lines[index] = text + "\n"
        self.write(relpath, "".join(lines))

    def git(self, *args: str, check: bool = True) -> str:
        return run_command([*GIT, *args], self.root, self.env, check=check).stdout

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def is_clean(self) -> bool:
        return self.git("status", "--porcelain") == ""

    def copier(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_command([*COPIER, *args], self.root, self.env, check=check)

    def files(self) -> set[str]:
        """Every file, tracked, untracked or ignored, outside .git."""
        return {
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(self.root).parts
        }

    def snapshot(self) -> dict[str, tuple[str, int]]:
        """Content hash and permission bits of every file."""
        return {
            f: (hashlib.sha256(self.path(f).read_bytes()).hexdigest(), self.path(f).stat().st_mode)
            for f in self.files()
        }

    def answers(self) -> dict[str, Any]:
        return yaml.safe_load(self.read(".copier-answers.yml"))


@pytest.fixture
def env(project_env: dict[str, str]) -> dict[str, str]:
    """Project environment (shared uv cache, no downloads) plus a git identity for commits."""
    return {**project_env, **GIT_IDENTITY}


@pytest.fixture
def template(untagged_template: Template) -> Template:
    """This repository's template as it is in the work tree, released as 0.1.0."""
    untagged_template.release("0.1.0")
    return untagged_template


@pytest.fixture
def untagged_template(tmp_path: Path, env: dict[str, str]) -> Template:
    """This repository's template as it is in the work tree, committed without a tag."""
    root = tmp_path / "copier-mlops"
    root.mkdir()
    shutil.copy2(REPO / "copier.yml", root)
    for folder in ("template", "migrations"):
        shutil.copytree(REPO / folder, root / folder, ignore=COPY_IGNORE)
    tpl = Template(root, env)
    if not tpl.source(USER_CONFIG).exists():  # until the ML core ships its job configs
        tpl.write(USER_CONFIG, "# Settings of the train job.\nseed: 42\n")
    run_command([*GIT, "init", "-q"], root, env)
    run_command([*GIT, "add", "-A"], root, env)
    run_command([*GIT, "commit", "-q", "-m", "work in progress"], root, env)
    return tpl


def render(
    template: Template, dest: Path, *data: str, commit: bool = True, ref: str | None = None
) -> Project:
    """`copier copy --defaults` (newest release unless `ref`) into `dest`, then git init+commit."""
    args = ["copy", "--defaults", "--quiet"]
    for item in data:
        args += ["--data", item]
    if ref:
        args += ["--vcs-ref", ref]
    run_command([*COPIER, *args, str(template.root), str(dest)], template.root.parent, template.env)
    project = Project(dest, template.env)
    if commit:
        project.git("init", "-q")
        project.commit("generated from the template")
    return project


def make_update(project: Project, *variables: str) -> subprocess.CompletedProcess[str]:
    """The project's `make update`, with copier from this test environment (no download)."""
    copier = " ".join(COPIER)
    return run_command(
        ["make", "update", f"COPIER={copier}", *variables], project.root, project.env, check=False
    )


# --- merges, conflicts and the `make update` target ------------------------------------------


@pytest.mark.parametrize("conflict", ["inline", "rej"])
def test_update_brings_template_changes_and_keeps_user_edits(
    template: Template, tmp_path: Path, conflict: str
) -> None:
    project = render(template, tmp_path / "project")
    # The user's work: prose in the README, a module, a tuned job config, and a Makefile header
    # that the next release also changes (the one overlapping edit).
    project.append("README.md", "\n## Team notes\n\nHow we run this model.\n")
    module = f"src/{PACKAGE}/features.py"
    project.write(module, '"""Team feature helpers."""\n')
    tuned = project.read(USER_CONFIG) + "# tuned by the team\n"
    project.write(USER_CONFIG, tuned)
    project.edit_line("Makefile", 0, "# Makefile header edited by the user")
    project.commit("user work")

    template.insert_line("README.md", 1, "\nRelease 0.2.0 of the template added this line.")
    template.edit_line("Makefile", 0, "# Makefile header edited by the template")
    template.append("Makefile", "\n.PHONY: hello\nhello: ## Added in 0.2.0\n\t@echo hello\n")
    template.append(USER_CONFIG, "# default added in 0.2.0\n")
    template.write("CONTRIBUTING.md.jinja", "# Contributing to {{ project_name }}\n")
    template.release("0.2.0")

    proc = make_update(project, f"CONFLICT={conflict}")

    # The template's changes arrive ...
    assert project.answers()["_commit"] == "0.2.0"
    assert project.read("CONTRIBUTING.md") == "# Contributing to My ML Project\n"
    readme = project.read("README.md")
    assert "Release 0.2.0 of the template added this line." in readme
    makefile = project.read("Makefile")
    assert "hello: ## Added in 0.2.0" in makefile
    # ... the user's edits are kept, and user-owned files are not merged into ...
    assert readme.endswith("\n## Team notes\n\nHow we run this model.\n")
    assert project.read(module) == '"""Team feature helpers."""\n'
    assert project.read(USER_CONFIG) == tuned
    # ... and the overlapping edit is a conflict that `make update` reports, failing.
    assert proc.returncode != 0
    unmerged = project.git("diff", "--name-only", "--diff-filter=U").split()
    rejects = sorted(f for f in project.files() if f.endswith(".rej"))
    if conflict == "inline":
        assert unmerged == ["Makefile"]
        assert rejects == []
        assert makefile.startswith(
            "<<<<<<< before updating\n# Makefile header edited by the user\n=======\n"
            "# Makefile header edited by the template\n>>>>>>> after updating\n"
        )
        check = run_command(
            [*GIT, "diff", "--check", "HEAD"], project.root, project.env, check=False
        )
        assert "Makefile:1: leftover conflict marker" in check.stdout
    else:
        assert unmerged == []
        assert rejects == ["Makefile.rej"]
        assert makefile.startswith("# Makefile header edited by the template\n")
        assert "+# Makefile header edited by the user" in project.read("Makefile.rej")
        assert "<<<<<<<" not in makefile
    listed = "Makefile" if conflict == "inline" else "Makefile.rej"
    assert proc.stdout.endswith(f"Resolve these, then run make install lint test:\n  {listed}\n")


@pytest.mark.slow
def test_update_without_conflicts_keeps_the_project_green(
    template: Template, tmp_path: Path
) -> None:
    project = render(template, tmp_path / "project")
    project.append("README.md", "\n## Team notes\n\nHow we run this model.\n")
    project.write(
        f"src/{PACKAGE}/features.py",
        '"""Team feature helpers."""\n\n\n'
        "def ratio(numerator: float, denominator: float) -> float:\n"
        '    """Return numerator / denominator, or 0.0 when the denominator is 0."""\n'
        "    return numerator / denominator if denominator else 0.0\n",
    )
    project.write(
        "tests/test_features.py",
        f"from {PACKAGE}.features import ratio\n\n\n"
        "def test_ratio() -> None:\n"
        "    assert ratio(1.0, 2.0) == 0.5\n"
        "    assert ratio(1.0, 0.0) == 0.0\n",
    )
    project.append(USER_CONFIG, "# tuned by the team\n")
    # The user adds a dependency at the end of the list and locks it, as a team would.
    pyproject = project.read("pyproject.toml").splitlines(keepends=True)
    end = pyproject.index("]\n", pyproject.index("dependencies = [\n"))
    pyproject.insert(end, '  "joblib>=1.4",\n')
    project.write("pyproject.toml", "".join(pyproject))
    run_command(["make", "install"], project.root, project.env)  # writes uv.lock, committed below
    project.commit("user work")

    # Release 0.2.0 adds a dependency at the top of the list, a target, a file and a README line.
    template.insert_line(
        "pyproject.toml",
        _line_after(template, "pyproject.toml", "dependencies = ["),
        '  "typing-extensions>=4.12",',
    )
    template.insert_line("README.md", 1, "\nRelease 0.2.0 of the template added this line.")
    template.append("Makefile", "\n.PHONY: hello\nhello: ## Added in 0.2.0\n\t@echo hello\n")
    template.write("CONTRIBUTING.md.jinja", "# Contributing to {{ project_name }}\n")
    template.release("0.2.0")

    proc = make_update(project)  # with .venv installed and uv.lock committed
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert project.answers()["_commit"] == "0.2.0"
    assert (project.root / "CONTRIBUTING.md").is_file()
    assert "hello: ## Added in 0.2.0" in project.read("Makefile")
    dependencies = tomllib.loads(project.read("pyproject.toml"))["project"]["dependencies"]
    assert {"joblib>=1.4", "typing-extensions>=4.12"} <= set(dependencies)
    # The README's next step: `make install` re-locks, then the project is green.
    verbose = {**project.env, "PYTEST_ADDOPTS": "-v"}  # names every test
    out = run_command(["make", "install", "lint", "test"], project.root, verbose).stdout
    assert re.search(r"tests/test_features\.py::\S+ PASSED", out), out[-3000:]
    run_command(["uv", "lock", "--locked"], project.root, project.env)


def _line_after(template: Template, rendered: str, line: str) -> int:
    """Index just after the first line of a template file that is exactly `line`."""
    return template.source(rendered).read_text().splitlines().index(line) + 1


def test_make_update_pins_the_templates_minimum_copier() -> None:
    minimum = yaml.safe_load((REPO / "copier.yml").read_text())["_min_copier_version"]
    makefile = (REPO / "template" / "Makefile.jinja").read_text()
    assert f"--from 'copier>={minimum}' copier" in makefile


def test_a_project_from_an_untagged_commit_updates_to_the_first_release(
    untagged_template: Template, tmp_path: Path
) -> None:
    project = render(untagged_template, tmp_path / "project")
    commit = project.answers()["_commit"]
    assert re.fullmatch("[0-9a-f]{7,40}", commit), commit  # no release yet: a commit hash
    untagged_template.write("CONTRIBUTING.md.jinja", "# Contributing to {{ project_name }}\n")
    untagged_template.release("0.1.0")

    project.copier("update", "--defaults")
    assert project.answers()["_commit"] == "0.1.0"
    assert project.read("CONTRIBUTING.md") == "# Contributing to My ML Project\n"


# --- migrations --------------------------------------------------------------------------------


def documented_migration() -> dict[str, Any]:
    """The migration example in copier.yml's comments: the test runs what the docs show."""
    text = (REPO / "copier.yml").read_text()
    block = re.search(r"^#( +- version:.*\n(?:#  .*\n)+)", text, re.MULTILINE)
    assert block, "copier.yml no longer documents a migration example"
    lines = [line.removeprefix("#") for line in block.group(0).splitlines()]
    (entry,) = yaml.safe_load(textwrap.dedent("\n".join(lines)))
    return entry


def test_update_across_a_migration_carries_the_users_config(
    template: Template, tmp_path: Path
) -> None:
    migration = documented_migration()
    old, new = migration["command"][-2:]
    assert old == USER_CONFIG
    project = render(template, tmp_path / "project")
    tuned = project.read(old) + "# tuned by the team\n"
    project.write(old, tuned)
    project.commit("tune the train job")

    # Release 0.2.0 moves the config and ships the documented migration.
    source = template.source(old)
    target = template.root / "template" / new
    target = target.with_name(target.name + source.name.removeprefix(Path(old).name))
    target.parent.mkdir(parents=True, exist_ok=True)
    source.rename(target)
    current = yaml.safe_load((template.root / "copier.yml").read_text()).get("_migrations") or []
    template.settings(_migrations=[*current, migration])
    template.release(migration["version"])

    # Without --trust copier refuses before changing anything ...
    refused = project.copier("update", "--defaults", check=False)
    assert refused.returncode == 4
    assert "--trust" in refused.stderr
    assert project.is_clean()
    # ... with it, the user's tuned file moves to the new path instead of the template default.
    proc = project.copier("update", "--defaults", "--trust")
    assert f"moved {old} -> {new}" in proc.stderr
    assert not project.path(old).exists()
    assert project.read(new) == tuned
    assert project.answers()["_commit"] == migration["version"]
    project.commit("update to 0.2.0")

    # The next release does not cross the migration: it neither runs nor needs --trust.
    template.insert_line("README.md", 1, "\nRelease 0.3.0 of the template added this line.")
    template.release("0.3.0")
    proc = project.copier("update", "--defaults")
    assert "migration" not in proc.stderr
    assert project.answers()["_commit"] == "0.3.0"
    assert project.read(new) == tuned


def _load_move() -> ModuleType:
    spec = importlib.util.spec_from_file_location("move", REPO / "migrations" / "move.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_move_migration_never_overwrites_and_refuses_outside_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    move = _load_move()
    monkeypatch.chdir(tmp_path)
    Path("configs").mkdir()
    Path("configs/a.yaml").write_text("mine\n")
    assert move.main(["configs/a.yaml", "configs/jobs/a.yaml"]) == 0
    assert Path("configs/jobs/a.yaml").read_text() == "mine\n"
    assert not Path("configs/a.yaml").exists()
    assert move.main(["configs/a.yaml", "configs/jobs/a.yaml"]) == 0  # idempotent
    Path("configs/a.yaml").write_text("old\n")
    assert "kept both" in move.move(Path("configs/a.yaml"), Path("configs/jobs/a.yaml"))
    assert Path("configs/a.yaml").read_text() == "old\n"
    assert Path("configs/jobs/a.yaml").read_text() == "mine\n"
    Path("old/deep").mkdir(parents=True)
    Path("old/deep/x.yaml").write_text("x\n")
    move.move(Path("old/deep/x.yaml"), Path("x.yaml"))
    assert not Path("old").exists()  # emptied folders go too
    assert move.main(["../outside.yaml", "x.yaml"]) == 2
    assert move.main([str(tmp_path / "x.yaml"), "y.yaml"]) == 2
    assert move.main(["only-one"]) == 2


# --- answers changed on update -----------------------------------------------------------------


def assert_restored(project: Project, before: dict[str, tuple[str, int]]) -> None:
    """Every file as in `before` but the answers file: an answer switched back undoes itself."""
    after = project.snapshot()
    answers = ".copier-answers.yml"
    assert {f: after[f] for f in after if f != answers} == {
        f: before[f] for f in before if f != answers
    }


def test_changing_answers_adds_and_removes_generated_files(
    template: Template, tmp_path: Path
) -> None:
    project = render(template, tmp_path / "project")
    before = project.files()

    answers = ("use_docs=true", "platforms=[kubernetes, databricks]")
    project.copier("update", "--defaults", *(f"--data={a}" for a in answers))
    expected = render(template, tmp_path / "expected", *answers, commit=False).files()
    assert project.files() == expected
    # Exactly the answers' files arrive: the docs site, the Kubernetes manifests, and the
    # Databricks bundle, its workflow and the Spark scoring module with its test.
    added = expected - before
    assert added == {"mkdocs.yml", "docs/index.md", "docs/make-it-yours.md"} | (
        KUBERNETES_FILES | DATABRICKS_FILES
    )
    assert project.answers()["platforms"] == ["databricks", "kubernetes"]  # in choice order
    makefile = project.read("Makefile")
    assert "docs:" in makefile
    assert "kubernetes-deploy:" in project.read("make/kubernetes.mk")
    assert "databricks-deploy:" in project.read("make/databricks.mk")
    assert "spark = [" in project.read("pyproject.toml")
    project.commit("docs, kubernetes and databricks")

    # The user edits a generated page and adds files in the generated folders.
    project.append("docs/index.md", "\nOur own introduction.\n")
    user_files = {
        "docs/guide.md",
        "deploy/kubernetes/overlays/staging/kustomization.yaml",
        "resources/team-notes.md",
    }
    for f in user_files:
        project.write(f, "written by the team\n")
    project.commit("user docs")

    project.copier("update", "--defaults", "--data=use_docs=false", "--data=platforms=[]")
    # Generated files go, user files stay; the edited generated page goes too (copier drops
    # what the template no longer generates) and stays recoverable from git.
    assert project.files() == before | user_files
    assert "docs:" not in project.read("Makefile")
    makefile = project.read("Makefile")
    assert "kubernetes-" not in makefile
    assert "databricks-" not in makefile
    assert "include " not in makefile
    assert "spark" not in project.read("pyproject.toml")
    assert "Our own introduction." in project.git("show", "HEAD:docs/index.md")
    assert project.answers()["use_docs"] is False


def test_adding_sagemaker_later_brings_exactly_its_files(
    template: Template, tmp_path: Path
) -> None:
    project = render(template, tmp_path / "project")
    before = project.snapshot()

    project.copier("update", "--defaults", "--data=platforms=[sagemaker]")
    expected = render(template, tmp_path / "expected", "platforms=[sagemaker]", commit=False)
    assert project.snapshot().keys() == expected.snapshot().keys()
    added = project.files() - set(before)
    assert added == {f for f in expected.files() if "sagemaker" in f}
    assert {".github/workflows/sagemaker.yml", "deploy/sagemaker/config.yaml"} <= added
    assert "sagemaker-deploy:" in project.read("make/sagemaker.mk")
    assert 'sagemaker = ["boto3' in project.read("pyproject.toml")
    assert "FROM runtime AS sagemaker" in project.read("Dockerfile")
    assert project.read("src/my_ml_project/cli.py") == expected.read("src/my_ml_project/cli.py")
    project.commit("sagemaker")

    project.copier("update", "--defaults", "--data=platforms=[]")
    assert_restored(project, before)
    assert project.answers()["platforms"] == []


def test_adding_airflow_later_brings_exactly_its_files(template: Template, tmp_path: Path) -> None:
    project = render(template, tmp_path / "project")
    before = project.snapshot()

    project.copier("update", "--defaults", "--data=orchestrator=airflow")
    expected = render(template, tmp_path / "expected", "orchestrator=airflow", commit=False)
    assert project.snapshot() == expected.snapshot() | {
        ".copier-answers.yml": project.snapshot()[".copier-answers.yml"]
    }
    assert project.files() - set(before) == AIRFLOW_FILES
    assert "include $(sort $(wildcard make/*.mk))" in project.read("Makefile")
    assert "make airflow-check" in project.read(".github/workflows/ci.yml")
    assert project.answers()["orchestrator"] == "airflow"
    project.commit("airflow")

    project.copier("update", "--defaults", "--data=orchestrator=none")
    assert_restored(project, before)


def test_switching_ci_brings_exactly_the_other_systems_files(
    template: Template, tmp_path: Path
) -> None:
    project = render(template, tmp_path / "project", "platforms=[sagemaker]")
    before = project.snapshot()
    github = {f for f in before if f.startswith(".github/")}
    assert ".github/workflows/sagemaker.yml" in github

    project.copier("update", "--defaults", "--data=ci=gitlab")
    expected = render(
        template, tmp_path / "expected", "platforms=[sagemaker]", "ci=gitlab", commit=False
    )
    after = project.snapshot()
    assert after.keys() == expected.snapshot().keys()
    assert set(before) - set(after) == github  # every GitHub file goes, dependabot too
    assert set(after) - set(before) == {".gitlab-ci.yml"}
    assert project.read(".gitlab-ci.yml") == expected.read(".gitlab-ci.yml")
    # What follows the answer changes with it: the deploy role trusts GitLab's tokens now.
    for changed in ("deploy/sagemaker/stack.yaml", "README.md", ".gitignore", "Makefile"):
        assert project.read(changed) == expected.read(changed), changed
    assert "gitlab.com:sub" in project.read("deploy/sagemaker/stack.yaml")
    assert project.answers()["ci"] == "gitlab"
    project.commit("gitlab")

    project.copier("update", "--defaults", "--data=ci=github")
    assert_restored(project, before)


# --- non-interactive updates -------------------------------------------------------------------


def test_update_without_a_terminal_needs_defaults_for_new_questions(
    template: Template, tmp_path: Path
) -> None:
    project = render(template, tmp_path / "project")
    template.settings(
        team_channel={"type": "str", "help": "Team chat channel", "default": "#ml-team"}
    )
    template.write("TEAM.md.jinja", "Chat: {{ team_channel }}\n")
    template.release("0.2.0")

    refused = project.copier("update", "--skip-answered", check=False)
    assert refused.returncode != 0
    assert "--defaults" in refused.stderr
    assert project.is_clean()

    project.copier("update", "--defaults")
    assert project.answers()["team_channel"] == "#ml-team"
    assert project.read("TEAM.md") == "Chat: #ml-team\n"


# --- the escape hatch ----------------------------------------------------------------------------


def test_recopy_resets_generated_files_and_keeps_user_files(
    template: Template, tmp_path: Path
) -> None:
    project = render(template, tmp_path / "project", "use_docs=true")
    original_makefile = project.read("Makefile")
    project.edit_line("Makefile", 0, "# drifted beyond merging")
    tuned = project.read(USER_CONFIG) + "# tuned by the team\n"
    project.write(USER_CONFIG, tuned)
    project.write(f"src/{PACKAGE}/features.py", '"""Team feature helpers."""\n')
    project.commit("user work")
    template.insert_line("README.md", 1, "\nRelease 0.2.0 of the template added this line.")
    template.release("0.2.0")

    project.copier("recopy", "--defaults", "--overwrite")

    assert project.read("Makefile") == original_makefile
    assert "Release 0.2.0 of the template added this line." in project.read("README.md")
    assert project.read(USER_CONFIG) == tuned
    assert project.read(f"src/{PACKAGE}/features.py") == '"""Team feature helpers."""\n'
    assert project.answers()["_commit"] == "0.2.0"
    assert project.answers()["use_docs"] is True


# --- nothing lost --------------------------------------------------------------------------------


def test_update_loses_no_user_file(template: Template, tmp_path: Path) -> None:
    project = render(template, tmp_path / "project", "use_docs=true")
    user_created = {
        f"src/{PACKAGE}/features.py": '"""Team feature helpers."""\n',
        "tests/test_features.py": "def test_nothing() -> None:\n    pass\n",
        "configs/custom.yaml": "seed: 7\n",  # matches the user-owned pattern, not generated
        "docs/guide.md": "# Our guide\n",  # in a folder whose generated page goes away
        "notebooks/explore.ipynb": '{"cells": []}\n',
        "scripts/retrain.sh": "#!/bin/sh\nmake train\n",
        "data/raw/extra.csv": "a,b\n1,2\n",  # gitignored: not even in git
        "mlruns/0/meta.yaml": "name: Default\n",  # gitignored
    }
    for f, text in user_created.items():
        project.write(f, text)
    project.path("scripts/retrain.sh").chmod(0o755)
    project.append(USER_CONFIG, "# tuned by the team\n")
    project.append("CHANGELOG.md", "\n## [0.2.0]\n\n- Our own release.\n")
    project.append("README.md", "\n## Team notes\n")
    project.path(".editorconfig").unlink()  # the user does not want it
    generated_configs = sorted(
        f for f in project.files() if f.startswith("configs/") and f not in user_created
    )
    deleted_config = {f for f in generated_configs[:1] if f != USER_CONFIG}
    for f in deleted_config:
        project.path(f).unlink()
    project.commit("user work")
    before = project.snapshot()

    # Release 0.2.0 changes files the user edited, owns or deleted, adds one and drops one.
    template.insert_line("README.md", 1, "\nRelease 0.2.0 of the template added this line.")
    template.append(USER_CONFIG, "# default added in 0.2.0\n")
    template.append("CHANGELOG.md", "- Template 0.2.0 line.\n")
    template.append(".editorconfig", "# changed in 0.2.0\n")
    template.write("CONTRIBUTING.md.jinja", "# Contributing to {{ project_name }}\n")
    (template.root / "template" / DOCS_INDEX_SOURCE).unlink()
    template.release("0.2.0")
    old = render(template, tmp_path / "old", "use_docs=true", commit=False, ref="0.1.0")
    new = render(template, tmp_path / "new", "use_docs=true", commit=False)
    old_files, new_files = old.snapshot(), new.snapshot()
    changed_by_template = {f for f in old_files | new_files if old_files.get(f) != new_files.get(f)}
    assert {"README.md", "CONTRIBUTING.md", "docs/index.md", USER_CONFIG} <= changed_by_template

    project.copier("update", "--defaults")
    after = project.snapshot()

    # Every file the template did not change is byte-for-byte (and mode-for-mode) the same.
    unchanged = set(before) - changed_by_template - {".copier-answers.yml"}
    assert {f: after.get(f) for f in unchanged} == {f: before[f] for f in unchanged}
    assert set(user_created) <= unchanged
    # User-owned files the template did change are untouched too.
    for f in (USER_CONFIG, "CHANGELOG.md"):
        assert after[f] == before[f], f
    # The user's edit survives the merge; the template's change arrives next to it.
    readme = project.read("README.md")
    assert readme.endswith("\n## Team notes\n")
    assert "Release 0.2.0 of the template added this line." in readme
    # What was deleted stays deleted, except user-owned files, which come back as the template's
    # default; what the template dropped is gone; what it added is there.
    assert ".editorconfig" not in after
    assert "docs/index.md" not in after
    assert project.read("CONTRIBUTING.md") == "# Contributing to My ML Project\n"
    for f in deleted_config:
        assert project.read(f) == new.read(f)
    assert set(after) == set(before) - {"docs/index.md"} | {"CONTRIBUTING.md"} | deleted_config
    assert os.access(project.path("scripts/retrain.sh"), os.X_OK)


# --- the per-platform layout -------------------------------------------------------------------

PREVIOUS_LAYOUT = "f9b35fade2fb6f125e4a17b066d45c604a19ee26"
"""The last commit whose platforms lived in README.md and the Makefile (issue 22 moved them)."""
ALL_PLATFORMS = "platforms=[databricks, sagemaker, kubernetes]"


@pytest.mark.parametrize("edits_moved_text", [False, True], ids=["shared-text", "moved-text"])
def test_update_to_the_per_platform_layout_keeps_the_users_edits(
    untagged_template: Template, tmp_path: Path, env: dict[str, str], edits_moved_text: bool
) -> None:
    """Edits around the platform text merge cleanly; an edit inside it is one README conflict."""
    template = untagged_template
    current = tmp_path / "current"
    shutil.copytree(template.root, current, ignore=shutil.ignore_patterns(".git"))
    # Release 0.1.0 is the template as it was before the move.
    listed = run_command(["git", "cat-file", "-t", PREVIOUS_LAYOUT], REPO, env, check=False)
    assert listed.stdout.strip() == "commit", (
        f"{PREVIOUS_LAYOUT} is missing: this test needs the repository's history"
        " (git fetch --unshallow; actions/checkout with fetch-depth: 0)"
    )
    for folder in ("template", "migrations"):
        shutil.rmtree(template.root / folder)
    archive = subprocess.run(
        ["git", "archive", PREVIOUS_LAYOUT, "copier.yml", "template", "migrations"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(template.root)], input=archive, check=True)
    template.release("0.1.0")
    project = render(template, tmp_path / "project", ALL_PLATFORMS)
    assert project.path(f"src/{PACKAGE}/sagemaker/deploy.py").is_file()
    assert "## Kubernetes" in project.read("README.md")

    # The user edits the shared files: outside the platform text, which the release moves.
    project.edit_line("README.md", 2, "Churn model of the retention team.")
    project.append("README.md", "\n## Team notes\n\nRetrain after each campaign.\n")
    project.edit_line("Makefile", 0, "# Our Makefile: run `make help`.")
    if edits_moved_text:  # inside the Kubernetes section, which moves to its own page
        section = "## Kubernetes\n"
        project.write(
            "README.md", project.read("README.md").replace(section, f"{section}\nOurs.\n")
        )
    project.append(
        "Makefile", "\n.PHONY: campaign\ncampaign: ## Score the campaign list\n\t@echo ok\n"
    )
    project.commit("user edits")

    # Release 0.2.0 is the work tree: each platform in its own folder.
    for folder in ("template", "migrations"):
        shutil.rmtree(template.root / folder)
        shutil.copytree(current / folder, template.root / folder)
    shutil.copy2(current / "copier.yml", template.root / "copier.yml")
    template.release("0.2.0")
    proc = make_update(project)
    if edits_moved_text:  # the section went: the user's line waits in README.md's markers
        assert proc.returncode != 0
        assert "Resolve these, then run make install lint test:\n  README.md\n" in proc.stdout
        assert project.git("diff", "--name-only", "--diff-filter=U") == "README.md\n"
        conflict = project.read("README.md")
        assert "<<<<<<< before updating\n## Kubernetes\n\nOurs.\n" in conflict
        assert project.path("deploy/kubernetes/README.md").is_file()
        assert project.read("Makefile").startswith("# Our Makefile: run `make help`.\n")
        return
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert project.git("diff", "--name-only", "--diff-filter=U") == ""

    readme, makefile = project.read("README.md"), project.read("Makefile")
    assert readme.splitlines()[2] == "Churn model of the retention team."
    assert readme.endswith("\n## Team notes\n\nRetrain after each campaign.\n")
    assert "## Kubernetes" not in readme
    assert "(deploy/kubernetes/README.md)" in readme
    assert makefile.startswith("# Our Makefile: run `make help`.\n")
    assert makefile.endswith("campaign: ## Score the campaign list\n\t@echo ok\n")
    assert "k8s-" not in makefile
    # The platform files moved: exactly the new release's files, plus nothing of the old.
    expected = render(template, tmp_path / "expected", ALL_PLATFORMS, commit=False)
    assert project.files() == expected.files()
    assert not project.path(f"src/{PACKAGE}/sagemaker/deploy.py").exists()
    for page in ("resources", "deploy/kubernetes", "deploy/sagemaker"):
        assert project.read(f"{page}/README.md") == expected.read(f"{page}/README.md")
    help_text = run_command(["make", "help"], project.root, env).stdout
    for target in ("campaign", "kubernetes-deploy", "databricks-deploy", "sagemaker-deploy"):
        assert f"  {target} " in help_text, target
