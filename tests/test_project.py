"""Rendered projects are green: their own Makefile installs, lints, tests and builds them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param({}, id="defaults"),
        pytest.param(
            {"python_version": "3.13", "license": "Apache-2.0", "use_docs": True}, id="py313-docs"
        ),
    ],
)
def test_make_install_lint_test_build(
    render: Callable[..., Path], run: Callable[..., object], answers: dict[str, object]
) -> None:
    project = render(**answers)
    run(["make", "install", "lint", "test", "build"], cwd=project)
    assert (project / "uv.lock").is_file()
    wheels = list((project / "dist").glob("*.whl"))
    assert len(wheels) == 1
    assert list((project / "dist").glob("*.tar.gz"))
    if answers.get("use_docs"):
        run(["make", "docs"], cwd=project)
        assert (project / "site" / "index.html").is_file()


def test_make_help_lists_every_documented_target(
    render: Callable[..., Path], run: Callable[..., object]
) -> None:
    project = render()
    out = run(["make"], cwd=project).stdout
    for target in ("install", "lint", "format", "test", "build", "clean"):
        assert f" {target} " in out


def test_cli_entry_point_reports_the_version(
    render: Callable[..., Path], run: Callable[..., object]
) -> None:
    project = render(version="1.2.3")
    out = run(["uv", "run", "my-ml-project", "--version"], cwd=project).stdout
    assert out.strip() == "my-ml-project 1.2.3"
