"""A table of the user's own, by the generated README's "Make it yours" steps, as code.

Three tables the template has never seen, built offline: a multiclass one with text labels
(scikit-learn's wine data, with a category that has gaps, an ID and a free-text column), a
binary one labelled "yes"/"no", and a regression one with categories. Each project follows the
four steps, then `make lint test pipeline`, and its service answers with the class and a
probability per class. The multiclass project has SageMaker too (its tests post the sample to
`/invocations`), and is committed and cloned fresh, as its CI would see it: the tests run on
the committed sample, without data/.
"""

from __future__ import annotations

import math
import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_project import _http, _set_config, serving

Run = Callable[..., subprocess.CompletedProcess[str]]
CLI = ["uv", "run", "--frozen", "my-ml-project"]

WINE_TABLE = """\
import numpy as np
from sklearn.datasets import load_wine

wine = load_wine(as_frame=True)
table = wine.frame[["alcohol", "malic_acid", "flavanoids", "color_intensity", "proline"]].copy()
rng = np.random.default_rng(7)
table.insert(0, "bottle_id", [f"B{number:04d}" for number in range(len(table))])
table["cellar"] = rng.choice(["north", "south", None], size=len(table))
table["notes"] = rng.choice(["dry, fruity", "oak", "a bit sweet"], size=len(table))
table["cultivar"] = np.array(["barolo", "grignolino", "barbera"])[wine.target]
table.sample(frac=1, random_state=1).to_csv("data/raw/wine.csv", index=False)
"""

WINE_SCHEMA = """\
FEATURES: tuple[Feature, ...] = (
    Numeric("alcohol", minimum=0.0),
    Numeric("malic_acid", minimum=0.0),
    Numeric("flavanoids", minimum=0.0),
    Numeric("color_intensity", minimum=0.0),
    Numeric("proline", minimum=0.0),
    Categorical("cellar", categories=("north", "south"), missing=True),
)
TARGET = Target("cultivar", classes=("barolo", "grignolino", "barbera"))
IDS: tuple[str, ...] = ("bottle_id",)
IGNORED: tuple[str, ...] = ("notes",)
"""

CHURN_SCHEMA = """\
FEATURES: tuple[Feature, ...] = (
    Numeric("tenure", minimum=0.0, maximum=600.0),  # months
    Numeric("monthly_charges", minimum=0.0, missing=True),
    Categorical("plan", categories=("basic", "plus", "premium")),
    Categorical("region", missing=True),
)
TARGET = Target("churned", classes=("no", "yes"))
IDS: tuple[str, ...] = ("customer_id",)
IGNORED: tuple[str, ...] = ()
"""

HOUSES_SCHEMA = """\
FEATURES: tuple[Feature, ...] = (
    Numeric("rooms", minimum=1.0),
    Numeric("surface_m2", minimum=0.0),
    Categorical("district", categories=("centre", "harbour", "hills"), missing=True),
)
TARGET = Target("price", minimum=0.0)
IDS: tuple[str, ...] = ("listing_id",)
IGNORED: tuple[str, ...] = ("listed_on",)
"""


def churn_table(rows: int = 600) -> str:
    """Customers who left or stayed ("yes"/"no"): numbers and categories, some cells empty."""
    rng = random.Random(7)
    lines = ["customer_id,tenure,monthly_charges,plan,region,churned"]
    for number in range(rows):
        tenure = rng.randint(0, 72)
        charges = round(rng.uniform(20, 120), 2)
        plan = rng.choice(["basic", "plus", "premium"])
        region = rng.choice(["north", "south", "east", "west", ""])  # about a fifth empty
        risk = 1.2 - 0.05 * tenure + 0.02 * (charges - 70) + (0.9 if plan == "basic" else 0.0)
        churned = "yes" if rng.random() < 1 / (1 + math.exp(-risk)) else "no"
        shown = "" if rng.random() < 0.05 else str(charges)  # some charges unknown
        lines.append(f"C{number:05d},{tenure},{shown},{plan},{region},{churned}")
    return "\n".join(lines) + "\n"


def houses_table(rows: int = 400) -> str:
    """Listings and their prices: a district that may be empty, an ID and a listing date."""
    rng = random.Random(11)
    lines = ["listing_id,listed_on,rooms,surface_m2,district,price"]
    for number in range(rows):
        rooms = rng.randint(1, 6)
        surface = round(rng.uniform(20, 40) * rooms, 1)
        district = rng.choice(["centre", "harbour", "hills", ""])
        premium = {"centre": 1.5, "harbour": 1.2}.get(district, 1.0)
        price = round(3000 * surface * premium * rng.uniform(0.9, 1.1))
        lines.append(f"L{number:05d},2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)},{rooms},"
                     f"{surface},{district},{price}")  # fmt: skip
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Table:
    """A table of the user's own, and what the guide's four steps set for it."""

    task: str
    name: str
    schema: str
    train: dict[str, Any] | None  # step 3: configs/train.yaml's model, None: as rendered
    promotion: dict[str, Any] | None  # step 4: configs/evaluate.yaml's bar, None: as rendered
    record: dict[str, Any]  # a request to the service
    answers: tuple[str, ...]  # the answer columns of batch predictions


TABLES = [
    Table(
        "classification",
        "wine.csv",
        WINE_SCHEMA,
        None,
        None,
        dict(alcohol=13.2, malic_acid=1.8, flavanoids=2.9, color_intensity=5.0, proline=1050.0)
        | {"cellar": None},
        ("prediction", "probability_barbera", "probability_barolo", "probability_grignolino"),
    ),
    Table(
        "classification",
        "churn.csv",
        CHURN_SCHEMA,
        {"estimator": "random_forest", "params": {"n_estimators": 50, "max_depth": 5}},
        {"metric": "roc_auc", "threshold": 0.6},
        {"tenure": 3, "monthly_charges": None, "plan": "basic", "region": None},
        ("prediction", "probability_no", "probability_yes"),
    ),
    Table(
        "regression",
        "houses.csv",
        HOUSES_SCHEMA,
        {"estimator": "hist_gradient_boosting", "params": {"max_iter": 50}},
        {"metric": "rmse", "threshold": 1e6},  # an error metric: the threshold is a maximum
        {"rooms": 3, "surface_m2": 90.0, "district": None},
        ("prediction",),
    ),
]


def write_schema(project: Path, declarations: str) -> None:
    """Step 2: the declarations between "edit from here" and "derived", as a user writes them."""
    schema = project / "src/my_ml_project/schema.py"
    text = schema.read_text()
    start = text.index("\n", text.index("# --- the table: edit from here")) + 1
    end = text.index("# --- derived")
    schema.write_text(text[:start] + "\n" + declarations + "\n" + text[end:])


@pytest.mark.parametrize("table", TABLES, ids=[table.name for table in TABLES])
def test_a_table_of_your_own_stays_green_by_the_readme_steps(
    render: Callable[..., Path], run: Run, project_env: dict[str, str], table: Table
) -> None:
    # The multiclass table with SageMaker too: its tests post the sample to `/invocations`.
    platforms = ["sagemaker"] if table.name == "wine.csv" else []
    project = render(task=table.task, platforms=platforms)
    guide = (project / "README.md").read_text().split("## Make it yours", 1)[1]
    guide = guide.split("<!-- --8<-- [end:make-it-yours] -->")[0]
    for step in ("1. **", "2. **", "3. **", "4. **", "data/raw/", "source_path", "FEATURES",
                 "TARGET", "IDS", "IGNORED", "make sample", "model.estimator",
                 "promotion", "tests/data/sample.csv"):  # fmt: skip
        assert step in guide, step
    run(["make", "install"], cwd=project)
    # 1. The table, and the data job pointed at it.
    (project / "data/raw").mkdir(parents=True)
    if table.name == "wine.csv":  # built with the project's own scikit-learn: no download
        run(["uv", "run", "--frozen", "python", "-c", WINE_TABLE], cwd=project)
    else:
        maker = churn_table if table.name == "churn.csv" else houses_table
        (project / "data/raw" / table.name).write_text(maker())
    _set_config(project / "configs/data.yaml", source_path=f"data/raw/{table.name}")
    # 2. Its columns; `make data` checks them, then the sample the tests read.
    write_schema(project, table.schema)
    run(["make", "data"], cwd=project)
    run(["make", "sample"], cwd=project)
    # 3. The model; 4. the bar.
    if table.train:
        _set_config(project / "configs/train.yaml", model=table.train)
    if table.promotion:
        _set_config(project / "configs/evaluate.yaml", promotion=table.promotion)

    run(["make", "lint", "test", "pipeline"], cwd=project)
    predictions = (project / "artifacts/predictions.csv").read_text().splitlines()
    header = predictions[0].split(",")
    assert header == [IDS_OF[table.name], *table.answers]  # the ID to join back, the answer
    with serving(project, project_env) as base:
        status, body = _http(f"{base}/predict", {"records": [table.record, table.record]})
    assert status == 200, body
    assert len(body["predictions"]) == 2
    if table.task == "classification":
        classes = {name.removeprefix("probability_") for name in table.answers[1:]}
        chances = body["probabilities"][0]
        assert body["predictions"][0] in classes
        assert set(chances) == classes
        assert max(chances, key=chances.__getitem__) == body["predictions"][0]
        assert sum(chances.values()) == pytest.approx(1.0)
    else:
        assert set(body) == {"predictions"}
        assert body["predictions"][0] > 0
    if table.name == "wine.csv":
        bad_schemas_end_in_one_line(project, run)
        a_fresh_clone_is_green(project, run)


IDS_OF = {"wine.csv": "bottle_id", "churn.csv": "customer_id", "houses.csv": "listing_id"}


def bad_schemas_end_in_one_line(project: Path, run: Run) -> None:
    """One class, a class listed twice, a class no row has: `make data` says so, exit 1."""
    good = (project / "src/my_ml_project/schema.py").read_text()
    declared = 'classes=("barolo", "grignolino", "barbera")'
    cases = {
        'classes=("barolo",)': "TARGET 'cultivar' needs at least two classes",
        'classes=("barolo", "barolo", "barbera")': "TARGET 'cultivar' lists class(es) barolo twice",
        'classes=("barolo", "grignolino", "barbera", "nebbiolo")': "no row of class(es) nebbiolo",
    }
    try:
        for classes, message in cases.items():
            (project / "src/my_ml_project/schema.py").write_text(good.replace(declared, classes))
            proc = run([*CLI, "data"], cwd=project, check=False)
            errors = [line for line in proc.stderr.splitlines() if " ERROR " in line]
            assert proc.returncode == 1, proc.stderr
            assert len(errors) == 1, proc.stderr
            assert message in errors[0]
            assert "Traceback" not in proc.stderr
    finally:
        (project / "src/my_ml_project/schema.py").write_text(good)


def a_fresh_clone_is_green(project: Path, run: Run) -> None:
    """What the project's CI runs on a fresh clone: data/ is not committed, the sample is."""
    assert yaml.safe_load((project / "configs/data.yaml").read_text())["source_path"]
    run(["git", "init", "-q"], cwd=project)
    run(["git", "add", "."], cwd=project)
    status = run(["git", "status", "--porcelain", "--ignored"], cwd=project).stdout.splitlines()
    assert "!! data/" in status  # the user's table stays out of git
    assert "A  tests/data/sample.csv" in status  # the tests' sample goes in
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "mine"], cwd=project)
    clone = project.parent / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], cwd=project.parent)
    assert not (clone / "data").exists()
    run(["make", "install", "test"], cwd=clone)
