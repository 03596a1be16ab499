"""Batch predict against `mlflow models predict`: the same registered model, the same file.

Renders a project (defaults, or `--task regression`), trains it (`make pipeline`: the champion
is registered), builds CSVs of 200,000 and 1,000,000 rows from its inference rows, then runs
ours (`.venv/bin/my-ml-project predict`) and MLflow's own tool (`mlflow models predict
--env-manager local`, from a venv of its own with the project's versions of mlflow and of the
packages in PACKAGES) on the same model version, interleaved, `--runs` times each. Prints the
medians: rows/s and peak RSS of each process tree, and ratios. `--ten-x` also scores 10x the
largest file with ours: its peak must equal the 1x peak (memory bounded by `chunk_rows`).
Speed ratios are given by wall time and by CPU time (the latter steadier on a busy machine).

Run with `uv run python benchmarks/batch.py` (or `make bench-batch`); numbers depend on the
machine, so compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from run import copy_args, env, timed  # benchmarks/run.py: render, environment, run

PACKAGES = ("scikit-learn", "skops", "pandas", "numpy", "scipy", "sqlalchemy", "alembic")
"""Installed beside mlflow at the project's versions: the model loads as is, the store opens."""

BYTECODE_ENVIRONMENTS = {"user machine": None, "PYTHONDONTWRITEBYTECODE=1": "1"}


def _tree_rss_kb(root: int) -> int:
    """Resident memory of a process and its descendants, in KiB (0 once it is gone)."""
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            total += next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total


def measured(args: list[str], cwd: Path, environment: dict[str, str]) -> tuple[float, float, float]:
    """Run a command; return its wall time (s), CPU time (s) and peak RSS of its tree (MB).

    CPU time (user + system, the process and the children it waited for) is what a busy
    machine disturbs least: compare it when the wall times of a run spread widely.

    The peak is the larger of the tree's RSS polled every 20 ms and the kernel's maximum RSS
    of the process itself (`wait4`), so a short spike between polls still counts.
    """
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        process = subprocess.Popen(args, cwd=cwd, env=environment, stdout=log, stderr=log)
        peak = [0]

        def poll() -> None:
            while process.returncode is None:
                peak[0] = max(peak[0], _tree_rss_kb(process.pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=poll, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler.join()
        log.seek(0)
        output = log.read().decode(errors="replace")
    if process.returncode:
        sys.exit(f"{' '.join(args)} failed ({process.returncode}):\n{output[-3000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, cpu, max(peak[0], usage.ru_maxrss) / 1024


BUILD_SCRIPT = r"""
import sys
import pandas as pd
rows, path = int(sys.argv[1]), sys.argv[2]
seed = pd.read_csv("data/inference.csv")
block = pd.concat([seed] * (100_000 // len(seed) + 1), ignore_index=True).head(100_000)
first = True
for start in range(0, rows, len(block)):
    part = block.head(rows - start).copy()
    part["sample_id"] = range(start, start + len(part))
    part.to_csv(path, mode="w" if first else "a", header=first, index=False)
    first = False
"""


def build_csv(project: Path, rows: int, path: Path) -> None:
    """A CSV of `rows` rows: the shipped inference rows repeated, each with its own ID."""
    python = str(project / ".venv/bin/python")
    timed([python, "-c", BUILD_SCRIPT, str(rows), str(path)], project, env())


def mlflow_venv(project: Path, root: Path, environment: dict[str, str]) -> Path:
    """A venv with MLflow's CLI at the project's versions; return its `mlflow` executable.

    Full `mlflow` first; where it cannot be installed at that version (a sibling package not
    published yet), `mlflow-skinny` of the same version, which carries the same
    `mlflow models predict` (with sqlalchemy and alembic, for the SQLite store).
    """
    python = str(project / ".venv/bin/python")
    code = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    )
    _, out = timed([python, "-c", code, "mlflow-skinny", *PACKAGES], project, environment)
    versions = json.loads(out)
    venv = root / "mlflow-venv"
    timed(["uv", "venv", "-q", "-p", python, str(venv)], root, environment)
    pinned = [f"{name}=={versions[name]}" for name in PACKAGES]
    install = ["uv", "pip", "install", "-q", "-p", str(venv / "bin/python")]
    mlflow_version = versions["mlflow-skinny"]
    done = subprocess.run(
        [*install, f"mlflow=={mlflow_version}", *pinned],
        env=environment,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        print(f"mlflow=={mlflow_version} cannot be installed: mlflow-skinny of that version")
        timed([*install, f"mlflow-skinny=={mlflow_version}", *pinned], root, environment)
    return venv / "bin/mlflow"


def champion(project: Path, environment: dict[str, str]) -> str:
    """The champion's pinned URI, `models:/<name>/<version>`: both tools score that version."""
    code = (
        "import mlflow; print(mlflow.MlflowClient()"
        ".get_model_version_by_alias('my-ml-project', 'champion').version)"
    )
    _, out = timed([str(project / ".venv/bin/python"), "-c", code], project, environment)
    return f"models:/my-ml-project/{out.strip().splitlines()[-1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each tool per file (median)")
    parser.add_argument("--rows", default="200000,1000000", help="comma-separated row counts")
    parser.add_argument(
        "--task", default="classification", choices=["classification", "regression"]
    )
    parser.add_argument("--ten-x", action="store_true", help="also 10x the largest file, ours only")
    parser.add_argument("--bytecode", choices=["both", "user", "ci"], default="user",
                        help="PYTHONDONTWRITEBYTECODE unset (user), set (ci), or both")  # fmt: skip
    options = parser.parse_args()
    sizes = [int(size) for size in options.rows.split(",")]
    base = env()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        project = root / "project"
        print(f"rendering and training a {options.task} project ...", flush=True)
        timed(copy_args(project, {"task": options.task}), root, base)
        timed(["git", "init", "-q"], project, base)
        timed(["make", "install"], project, base)
        timed(["make", "pipeline"], project, base)
        tracking = f"sqlite:///{project / 'mlruns/mlflow.db'}"
        environment = {**base, "MLFLOW_TRACKING_URI": tracking}
        uri = champion(project, environment)
        print(f"model {uri}; installing MLflow's CLI in a venv of its own ...", flush=True)
        mlflow = mlflow_venv(project, root, base)
        check = (
            "import mlflow.pyfunc, sys; "
            "print(list(mlflow.pyfunc.load_model(sys.argv[1]).metadata.flavors))"
        )
        _, flavors = timed([str(mlflow.parent / "python"), "-c", check, uri], project, environment)
        print(
            f"the model loads in MLflow's pyfunc; flavors: {flavors.strip().splitlines()[-1][:120]}"
        )
        files = {}
        for rows in sorted({*sizes, *([10 * max(sizes)] if options.ten_x else [])}):
            files[rows] = root / f"rows-{rows}.csv"
            build_csv(project, rows, files[rows])
            print(f"{rows:,} rows: {files[rows].stat().st_size / 1e6:.0f} MB CSV", flush=True)
        commands = {
            "ours": lambda path, out: [
                str(project / ".venv/bin/my-ml-project"), "predict",
                "--set", f"input_path={path}", "--set", f"output_path={out}.csv",
                "--set", f"model_uri={uri}",
            ],
            "mlflow models predict": lambda path, out: [
                str(mlflow), "models", "predict", "-m", uri, "-i", str(path), "-t", "csv",
                "-o", f"{out}.json", "--env-manager", "local",
            ],
        }  # fmt: skip
        selected = {"both": BYTECODE_ENVIRONMENTS, "user": {"user machine": None},
                    "ci": {"PYTHONDONTWRITEBYTECODE=1": "1"}}[options.bytecode]  # fmt: skip
        lines = [
            "| environment | rows | ours rows/s | mlflow rows/s | speed ratio (wall) "
            "| speed ratio (CPU) | ours peak MB | mlflow peak MB | memory ratio |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        peaks: dict[int, float] = {}
        for label, value in selected.items():
            run_env = {k: v for k, v in environment.items() if k != "PYTHONDONTWRITEBYTECODE"}
            if value:
                run_env["PYTHONDONTWRITEBYTECODE"] = value
            for rows in sizes:
                samples: dict[str, list[tuple[float, float, float]]] = {n: [] for n in commands}
                for attempt in range(options.runs):
                    for name, command in commands.items():  # interleaved: the same noise
                        out = root / f"out-{attempt}"
                        samples[name].append(measured(command(files[rows], out), project, run_env))
                        seconds, cpu, peak = samples[name][-1]
                        print(
                            f"[{label}] {rows:,} rows, {name}: {seconds:.1f} s "
                            f"(CPU {cpu:.1f} s), {peak:.0f} MB",
                            flush=True,
                        )
                ours, theirs = (
                    [statistics.median(x) for x in zip(*samples[name], strict=True)]
                    for name in commands
                )
                peaks[rows] = ours[2]
                lines.append(
                    f"| {label} | {rows:,} | {rows / ours[0]:,.0f} | {rows / theirs[0]:,.0f} "
                    f"| {theirs[0] / ours[0]:.2f}x | {theirs[1] / ours[1]:.2f}x "
                    f"| {ours[2]:.0f} | {theirs[2]:.0f} | {ours[2] / theirs[2]:.2f} |"
                )
        if options.ten_x:
            largest = max(sizes)
            seconds, _, peak = measured(
                commands["ours"](files[10 * largest], root / "out-10x"), project, environment
            )
            lines.append(
                f"\n10x rows, ours: {10 * largest:,} rows in {seconds:.1f} s "
                f"({10 * largest / seconds:,.0f} rows/s), peak {peak:.0f} MB vs "
                f"{peaks[largest]:.0f} MB at {largest:,} rows ({peak / peaks[largest]:.2f}x)"
            )
        print(f"\nMedians of {options.runs} runs, interleaved ({os.cpu_count()} cores):\n")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
