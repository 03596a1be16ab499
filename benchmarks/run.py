"""Measure the template's speed targets on this machine and write benchmarks/results.md.

Figures: render time (all options), copy -> green `make install lint test` with a warm uv cache,
`make pipeline`, single-row predict latency (in-process and over loopback HTTP), the rendered
project's install size. Run with `make bench`; numbers depend on the machine, so they are
reported, never asserted.
"""

from __future__ import annotations

import json
import os
import shutil
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
import httpx, pandas as pd, uvicorn
from {pkg}.service import create_app
from {pkg}.settings import CHAMPION_MODEL_URI, TrackingSettings
from {pkg}.tracking import load_pipeline

pipeline = load_pipeline(CHAMPION_MODEL_URI, TrackingSettings())
row = pd.read_csv("data/inference.csv").iloc[[0]]
body = json.dumps({{"records": row.to_dict(orient="records")}}).encode()

def p50(call, n=300):
    for _ in range(20):
        call()
    samples = []
    for _ in range(n):
        start = time.perf_counter(); call(); samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000

app = create_app(pipeline, CHAMPION_MODEL_URI)
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
    "model_predict_ms": p50(lambda: pipeline.predict_proba(row)),
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


def main() -> None:
    environment = env()
    rows: list[tuple[str, str, str]] = []

    def add(name: str, value: str, target: str = "") -> None:
        rows.append((name, value, target))
        print(f"{name}: {value}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        add("render, all options (copier API, best of 5)", f"{render_in_process(root):.2f} s",
            "≤ 0.8 s")  # fmt: skip
        seconds, _ = timed(copy_args(root / "cli", ALL_OPTIONS), root, environment)
        add("render, all options (`copier copy` CLI, with start-up)", f"{seconds:.2f} s")

        # Warm the uv cache with one full install, then measure a fresh project from scratch.
        warm = root / "warm"
        timed(copy_args(warm, {}), root, environment)
        timed(["make", "install"], warm, environment)
        project = root / "project"
        steps = {"copy": timed(copy_args(project, {}), root, environment)[0]}
        for target in ("install", "lint", "test"):
            steps[target] = timed(["make", target], project, environment)[0]
        add("copy → green `make install lint test` (warm uv cache)",
            f"{sum(steps.values()):.1f} s", "≤ 8 s")  # fmt: skip
        add("  of which " + " / ".join(steps), " / ".join(f"{t:.1f}" for t in steps.values()))
        first = timed(["make", "pipeline"], project, environment)[0]
        add("`make pipeline`, first run (creates the MLflow store)", f"{first:.1f} s", "≤ 5 s")
        second = timed(["make", "pipeline"], project, environment)[0]
        add("`make pipeline`, next runs", f"{second:.1f} s", "≤ 5 s")
        script = LATENCY_SCRIPT.format(pkg="my_ml_project")
        _, out = timed(["uv", "run", "--frozen", "python", "-c", script], project, environment)
        latency = json.loads(out.strip().splitlines()[-1])
        add("single-row predict p50, model only", f"{latency['model_predict_ms']:.2f} ms")
        add("single-row `POST /predict` p50, in-process",
            f"{latency['service_in_process_ms']:.2f} ms", "≤ 5 ms")  # fmt: skip
        add("single-row `POST /predict` p50, HTTP on loopback",
            f"{latency['service_http_loopback_ms']:.2f} ms")  # fmt: skip
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
            f"measured {time.strftime('%Y-%m-%d %H:%M')} by `make bench`.",
            "",
            *table,
            "",
        ]
    )
    (REPO / "benchmarks" / "results.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
