"""Measure the template's speed targets on this machine and write benchmarks/results.md.

Figures: render time (all options); for a user's machine (PYTHONDONTWRITEBYTECODE unset) and for
CI (set), with bytecode compiled at install and lazily: copy -> green `make install lint test` with
a warm uv cache beside the peer it is judged against, cookiecutter-uv's src-layout project taken
through the same steps in the same run; `make test` (the fast loop) and `make test-all` of an
installed project beside importing the ML stack alone; `make pipeline`. Then single-row predict
latency (in-process and over loopback HTTP), a bounded load test of the service on loopback, the
rendered project's install size. Run with `make bench`; numbers depend on the machine, so they are
reported as ratios to the peer or floor measured in the same run, never asserted.

cookiecutter-uv comes from GitHub at a pinned commit; where GitHub is out of reach, point
COOKIECUTTER_UV at a local clone (`COOKIECUTTER_UV=path/to/cookiecutter-uv make bench`).
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ALL_OPTIONS = {
    "use_docker": "true",
    "use_docs": "true",
    "platforms": "[databricks, sagemaker, kubernetes]",
}
PARSED_OPTIONS = {
    "use_docker": True,
    "use_docs": True,
    "platforms": ["databricks", "sagemaker", "kubernetes"],
}
LATENCY_SCRIPT = r"""
import asyncio, json, socket, statistics, threading, time, urllib.request
import httpx2 as httpx, pandas as pd, uvicorn
from pathlib import Path
from {pkg}.schema import FEATURE_NAMES
from {pkg}.service import create_app
from {pkg}.settings import ServeSettings
from {pkg}.tracking import load_model

settings = ServeSettings.load(Path("configs/serve.yaml"))
model = load_model(settings.model_uri, settings.tracking)
pipeline = model.pipeline
row = pd.read_csv("data/inference.csv")[list(FEATURE_NAMES)].iloc[[0]]
body = json.dumps({{"records": row.to_dict(orient="records")}}).encode()

def p50(call, n=300):
    for _ in range(20):
        call()
    samples = []
    for _ in range(n):
        start = time.perf_counter(); call(); samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000

app = create_app(model, settings)
headers = {{"Content-Type": "application/json"}}

async def in_process():
    # One event loop, ASGI calls without sockets: the service's own cost per request.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        for _ in range(20):
            await client.post("/predict", content=body, headers=headers)
        samples = []
        for _ in range(300):
            start = time.perf_counter()
            response = await client.post("/predict", content=body, headers=headers)
            samples.append(time.perf_counter() - start)
            assert response.status_code == 200
    return statistics.median(samples) * 1000

result = {{
    "model_predict_ms": p50(lambda: pipeline.predict(row)),
    "service_in_process_ms": asyncio.run(in_process()),
}}
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
threading.Thread(target=server.run, daemon=True).start()
while not server.started:
    time.sleep(0.05)
def http():
    req = urllib.request.Request(f"http://127.0.0.1:{{port}}/predict", body,
                                 {{"Content-Type": "application/json"}})
    urllib.request.urlopen(req).read()
result["service_http_loopback_ms"] = p50(http)
server.should_exit = True
print(json.dumps(result))
"""


LOAD_CLIENTS = 4  # concurrent keep-alive connections
LOAD_REQUESTS = {1: 2_000, 1_000: 60}  # rows per request -> requests sent (bounded)


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory (VmRSS) or its peak (VmHWM) from /proc, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _post(connection: http.client.HTTPConnection, body: bytes) -> tuple[int, float]:
    start = time.perf_counter()
    connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    return response.status, time.perf_counter() - start


def load_test(project: Path, environment: dict[str, str]) -> dict[str, str]:
    """Serve the champion on loopback and send bounded bursts of 1- and 1,000-row requests.

    Reports throughput, p50/p99 latency per request size, `/health` latency while 1,000-row
    requests are scored, and the server's memory before, after and at its peak.
    """
    import concurrent.futures
    import socket
    import statistics

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [str(project / ".venv/bin/my-ml-project"), "serve", "--port", str(port)],
        cwd=project, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(240):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.25)
        header, *rows = (project / "data/inference.csv").read_text().splitlines()
        names = header.split(",")
        records = [
            {n: float(v) for n, v in zip(names, row.split(","), strict=True) if n != "sample_id"}
            for row in rows
        ]
        figures = {"server RSS before (MB)": f"{_rss_mb(server.pid):.0f}"}
        for size, count in LOAD_REQUESTS.items():
            body = json.dumps({"records": (records * (size // len(records) + 1))[:size]}).encode()
            per_client = count // LOAD_CLIENTS

            def client(body: bytes = body, per_client: int = per_client) -> list[float]:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                times = []
                for _ in range(per_client):
                    status, seconds = _post(connection, body)
                    assert status == 200, status
                    times.append(seconds)
                connection.close()
                return times

            health: list[float] = []
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(LOAD_CLIENTS + 1) as pool:
                futures = [pool.submit(client) for _ in range(LOAD_CLIENTS)]
                while size > 1 and not all(f.done() for f in futures):
                    probe = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    start = time.perf_counter()
                    probe.request("GET", "/health")
                    probe.getresponse().read()
                    health.append(time.perf_counter() - start)
                    probe.close()
                    time.sleep(0.05)
                latencies = sorted(t for f in futures for t in f.result())
            elapsed = time.perf_counter() - started
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            figures[f"{size}-row requests/s ({LOAD_CLIENTS} clients)"] = (
                f"{len(latencies) / elapsed:.0f}"
            )
            figures[f"{size}-row p50 / p99 (ms)"] = (
                f"{statistics.median(latencies) * 1000:.1f} / {p99 * 1000:.1f}"
            )
            if health:
                figures["`/health` p50 / max while 1,000-row requests run (ms)"] = (
                    f"{statistics.median(health) * 1000:.1f} / {max(health) * 1000:.1f}"
                )
        figures["server RSS after / peak (MB)"] = (
            f"{_rss_mb(server.pid):.0f} / {_rss_mb(server.pid, 'VmHWM'):.0f}"
        )
        return figures
    finally:
        server.terminate()
        server.wait(timeout=30)


def env() -> dict[str, str]:
    """As the test suite: pyenv interpreters visible to uv, no interpreter downloads."""
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import _discoverable_pythons

    environment = dict(os.environ)
    environment["PATH"] = os.pathsep.join([*_discoverable_pythons(), environment["PATH"]])
    environment.setdefault("UV_PYTHON_DOWNLOADS", "never")
    environment.pop("VIRTUAL_ENV", None)
    return environment


def timed(args: list[str], cwd: Path, environment: dict[str, str]) -> tuple[float, str]:
    """Run a command; return its wall time in seconds and its stdout (fail loudly)."""
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=environment, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed, proc.stdout


def copy_args(dst: Path, data: dict[str, str]) -> list[str]:
    pairs = [arg for key, value in data.items() for arg in ("--data", f"{key}={value}")]
    return [sys.executable, "-m", "copier", "copy", "-q", "--defaults", "--vcs-ref", "HEAD",
            *pairs, str(REPO), str(dst)]  # fmt: skip


def render_in_process(dst: Path) -> float:
    """Best of 5 renders with every option through copier's API (no interpreter start-up)."""
    import warnings

    from copier import run_copy

    times = []
    for attempt in range(5):
        target = dst / f"render{attempt}"
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_copy(str(REPO), target, data=PARSED_OPTIONS, defaults=True, quiet=True,
                     vcs_ref="HEAD")  # fmt: skip
        times.append(time.perf_counter() - start)
    return min(times)


# cookiecutter-uv (fpgmaas/cookiecutter-uv), the peer for copy -> green, at a pinned commit.
COOKIECUTTER_UV = os.environ.get("COOKIECUTTER_UV", "https://github.com/fpgmaas/cookiecutter-uv")
COOKIECUTTER_UV_COMMIT = "8af4669d247c0c644060e0fcfaa868a895bb5931"  # 2026-02-12
COOKIECUTTER = ["uv", "tool", "run", "--from", "cookiecutter==2.6.0", "cookiecutter"]
# Its `make check` runs pre-commit, whose hooks are cloned from GitHub: the same tools are run
# directly instead (its ruff hooks, its type checker and deptry, the lock check).
PEER_STEPS = {
    "install": [["git", "init", "-q"], ["make", "install"]],
    "lint": [
        ["uv", "lock", "--locked"],
        ["uv", "run", "ruff", "check", "."],
        ["uv", "run", "ruff", "format", "--check", "."],
        ["uv", "run", "mypy"],
        ["uv", "run", "deptry", "src"],
    ],
    "test": [["make", "test"]],
}


def peer_to_green(root: Path, name: str, environment: dict[str, str]) -> dict[str, float]:
    """cookiecutter-uv's src-layout project (its defaults otherwise): copy, install, lint, test."""
    checkout = [] if Path(COOKIECUTTER_UV).is_dir() else ["--checkout", COOKIECUTTER_UV_COMMIT]
    render = [*COOKIECUTTER, "--no-input", *checkout, "-o", str(root), COOKIECUTTER_UV,
              f"project_name={name}", "layout=src"]  # fmt: skip
    steps = {"copy": timed(render, root, environment)[0]}
    for step, commands in PEER_STEPS.items():
        steps[step] = sum(timed(command, root / name, environment)[0] for command in commands)
    return steps


def ml_stack_modules(project: Path, package: str) -> list[str]:
    """Every third-party module the package imports, plus the MLflow SQLite store the jobs open."""
    import ast

    names: set[str] = {"mlflow.store.tracking.sqlalchemy_store"}
    for source in (project / "src" / package).rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    local = {package, "__future__", *sys.stdlib_module_names}
    return sorted(name for name in names if name.split(".")[0] not in local)


FLOOR_MODULES = ["mlflow", "sklearn", "pandas", "pandera", "fastapi"]
"""The floor the speed targets name: `import mlflow, sklearn, pandas, pandera, fastapi`."""


def in_turns(
    commands: dict[str, list[str]], cwd: Path, environment: dict[str, str], rounds: int = 3
) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds of each command, run in turns (a, b, c, a, b, c, ...).

    In turns, a machine whose speed drifts over minutes (a shared 2-core VM does) weighs on a
    figure and on its floor alike; CPU seconds (the process tree's) drift less than wall time.
    """
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, args in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall = timed(args, cwd, environment)[0]
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            runs[name].append((wall, cpu))
    return {
        name: (statistics.median(w for w, _ in done), statistics.median(c for _, c in done))
        for name, done in runs.items()
    }


def importing(project: Path, modules: list[str]) -> list[str]:
    """The command that imports `modules` alone in the project's venv."""
    return [str(project / ".venv/bin/python"), "-c", "import " + ", ".join(modules)]


def copy_to_green(
    root: Path, name: str, environment: dict[str, str], *, compile_bytecode: bool
) -> tuple[Path, dict[str, float]]:
    """Render the defaults and time copy, `make install`, `make lint`, `make test`."""
    project = root / name
    steps = {"copy": timed(copy_args(project, {}), root, environment)[0]}
    install = ["make", "install", f"COMPILE_BYTECODE={'1' if compile_bytecode else ''}"]
    steps["install"] = timed(["git", "init", "-q"], project, environment)[0]  # as the peer's
    steps["install"] += timed(install, project, environment)[0]
    for target in ("lint", "test"):
        steps[target] = timed(["make", target], project, environment)[0]
    return project, steps


# PYTHONDONTWRITEBYTECODE: unset on a user's machine (the headline), set on CI and this machine.
BYTECODE_ENVIRONMENTS = {"user machine": None, "PYTHONDONTWRITEBYTECODE=1": "1"}


def main() -> None:
    base = env()
    rows: list[tuple[str, str, str]] = []

    def add(name: str, value: str, target: str = "") -> None:
        rows.append((name, value, target))
        print(f"{name}: {value}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        add(
            "render, all options (copier API, best of 5)",
            f"{render_in_process(root):.2f} s",
            "≤ 0.8 s",
        )
        seconds, _ = timed(copy_args(root / "cli", ALL_OPTIONS), root, base)
        add("render, all options (`copier copy` CLI, with start-up)", f"{seconds:.2f} s")

        # Warm the uv cache: one full install of a project and of the peer.
        warm = root / "warm"
        timed(copy_args(warm, {}), root, base)
        timed(["make", "install"], warm, base)
        peer_to_green(root, "warm-peer", base)
        for label, value in BYTECODE_ENVIRONMENTS.items():
            environment = {k: v for k, v in base.items() if k != "PYTHONDONTWRITEBYTECODE"}
            if value:
                environment["PYTHONDONTWRITEBYTECODE"] = value
            for compile_bytecode in (True, False):
                mode = "bytecode at install" if compile_bytecode else "bytecode lazily"
                peer = peer_to_green(root, f"peer-{len(rows)}", environment)
                peer_total = sum(peer.values())
                add(
                    f"[{label}, {mode}] peer: cookiecutter-uv src project → green (warm uv cache)",
                    f"{peer_total:.1f} s",
                )
                add("  of which " + " / ".join(peer), " / ".join(f"{t:.1f}" for t in peer.values()))
                name = f"project-{len(rows)}"
                project, steps = copy_to_green(
                    root, name, environment, compile_bytecode=compile_bytecode
                )
                total = sum(steps.values())
                add(
                    f"[{label}, {mode}] copy → green `make install lint test` (warm uv cache)",
                    f"{total:.1f} s = {total / peer_total:.1f}x cookiecutter-uv",
                    "≤ 2.5x cookiecutter-uv",
                )
                add(
                    "  of which " + " / ".join(steps),
                    " / ".join(f"{t:.1f}" for t in steps.values()),
                )
                figures = in_turns(
                    {
                        "floor": importing(project, FLOOR_MODULES),
                        "stack": importing(project, ml_stack_modules(project, "my_ml_project")),
                        "test": ["make", "test"],
                    },
                    project,
                    environment,
                )
                (floor, floor_cpu), (stack, stack_cpu), (again, again_cpu) = figures.values()
                add(
                    f"[{label}, {mode}] floor: `import {', '.join(FLOOR_MODULES)}` (median of 3)",
                    f"{floor:.1f} s ({floor_cpu:.1f} s CPU)",
                )
                add(
                    f"[{label}, {mode}] every module the package imports (MLflow's store too)",
                    f"{stack:.1f} s = {stack / floor:.1f}x floor"
                    f" ({stack_cpu / floor_cpu:.1f}x by CPU)",
                )
                add(
                    f"[{label}, {mode}] `make test` (fast loop), installed project (median of 3)",
                    f"{again:.1f} s = {again / floor:.1f}x import floor"
                    f" ({again_cpu / floor_cpu:.1f}x by CPU)",
                    "≤ 2x import floor",
                )
                every = timed(["make", "test-all"], project, environment)[0]
                add(f"[{label}, {mode}] `make test-all` (what CI runs)", f"{every:.1f} s")
                first = timed(["make", "pipeline"], project, environment)[0]
                add(f"[{label}, {mode}] `make pipeline`, first run", f"{first:.1f} s")
                second = timed(["make", "pipeline"], project, environment)[0]
                add(
                    f"[{label}, {mode}] `make pipeline`, next run",
                    f"{second:.1f} s = {second / floor:.1f}x import floor",
                    "≤ 3 s",
                )
        script = LATENCY_SCRIPT.format(pkg="my_ml_project")
        _, out = timed(["uv", "run", "--frozen", "python", "-c", script], project, base)
        latency = json.loads(out.strip().splitlines()[-1])
        add("single-row predict p50, model only", f"{latency['model_predict_ms']:.2f} ms")
        add(
            "single-row `POST /predict` p50, in-process",
            f"{latency['service_in_process_ms']:.2f} ms",
            "≤ 5 ms",
        )
        add(
            "single-row `POST /predict` p50, HTTP on loopback",
            f"{latency['service_http_loopback_ms']:.2f} ms",
        )
        for name, value in load_test(project, base).items():
            add(f"load test: {name}", value)
        venv = sum(f.stat().st_size for f in (project / ".venv").rglob("*") if f.is_file())
        add("rendered project's .venv size (with dev tools)", f"{venv / 2**20:.0f} MiB")
        shutil.rmtree(root, ignore_errors=True)

    table = ["| measure | result | target |", "| --- | --- | --- |"]
    table += [f"| {name} | {value} | {target} |" for name, value, target in rows]
    report = "\n".join(
        [
            "# Benchmarks",
            "",
            f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
            f"measured {time.strftime('%Y-%m-%d %H:%M')} by `make bench`. Floors are measured "
            "in the same run; ratios to them are what to compare between machines.",
            "",
            *table,
            "",
        ]
    )
    (REPO / "benchmarks" / "results.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
