"""Service throughput: the generated project's `serve` beside `mlflow models serve`, one run.

Renders a project (task=classification), trains and promotes its champion (`make pipeline`),
installs MLflow's full package in a venv of its own (the project has mlflow-skinny, which has no
`models serve`) at the project's versions (the newest before when full MLflow lags the skinny
one), and serves the same champion with both on loopback: ours by `models:/<name>@champion`,
MLflow's from the champion's files, downloaded by the project (an older MLflow refuses the
newer store's schema). Load comes from a separate process (asyncio, keep-alive connections) whose
CPU share is reported, so the client is seen not to be the bottleneck. Several rounds, the two
servers alternating; the table shows medians and the ratio ours / MLflow's per round.

    uv run python benchmarks/service.py [--rounds 3] [--seconds 10]

Numbers depend on the machine (and what else runs on it): read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from run import REPO, copy_args, env, timed  # benchmarks/run.py

CASES = {1: 16, 1_000: 8}  # rows per request -> concurrent clients
PACKAGES = ("scikit-learn", "skops", "pandas")  # installed at the project's versions


# --- the load client (a process of its own) ----------------------------------------------------


async def _load(port: int, path: str, body: bytes, clients: int, seconds: float) -> dict:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    failed = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal failed
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            failed += not head.startswith(b"HTTP/1.1 200")
            latencies.append(time.perf_counter() - start)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - started
    latencies.sort()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "req_s": len(latencies) / wall,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "failed": failed,
        "client_cpu": (usage.ru_utime + usage.ru_stime) / wall,
    }


def load(port: int, path: str, body: Path, clients: int, seconds: float) -> dict:
    """Run the load client in a new process; return its figures."""
    args = [sys.executable, __file__, "--client", str(port), path, str(body), str(clients)]
    out = subprocess.run([*args, str(seconds)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


# --- the servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, server: subprocess.Popen, path: str) -> None:
    import urllib.request

    for _ in range(600):
        if server.poll() is not None:
            sys.exit(f"the server on port {port} exited with {server.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"the server on port {port} did not answer {path}")


def rss_mb(pid: int) -> list[float]:
    """Resident memory of a process and of each of its descendants (uvicorn's workers), MB."""
    figures = []
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            figures.append(int(line.split()[1]) / 1024)
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return figures + [mb for child in children for mb in rss_mb(int(child))]


def mlflow_venv(project: Path, folder: Path, environment: dict[str, str]) -> tuple[Path, str]:
    """Install full MLflow beside the project's model stack; return its `mlflow` and version."""
    script = (
        "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in %r}))"
    )
    names = ("mlflow-skinny", *PACKAGES)
    versions = json.loads(
        timed([".venv/bin/python", "-c", script % (names,)], project, environment)[1]
    )
    timed(
        ["uv", "venv", "-q", "--python", str(project / ".venv/bin/python"), str(folder)],
        project,
        environment,
    )
    pins = [f"{name}=={versions[name]}" for name in PACKAGES]
    python = ["--python", str(folder / "bin/python")]
    wanted = versions["mlflow-skinny"]
    for mlflow in (f"mlflow=={wanted}", f"mlflow<={wanted}"):  # full MLflow may lag the skinny one
        done = subprocess.run(
            ["uv", "pip", "install", "-q", *python, mlflow, *pins],
            env=environment,
            capture_output=True,
        )
        if done.returncode == 0:
            break
    else:
        sys.exit(f"cannot install MLflow {wanted}: {done.stderr.decode()}")
    got = timed(
        [str(folder / "bin/python"), "-c", "import mlflow; print(mlflow.__version__)"],
        project,
        environment,
    )[1]
    return folder / "bin/mlflow", got.strip()


def bodies(project: Path, folder: Path) -> dict[tuple[str, int], Path]:
    """Request bodies for each server and size, from the project's inference table."""
    script = (
        "import json, sys, pandas as pd\n"
        "from {pkg}.schema import FEATURE_NAMES\n"
        "rows = pd.read_csv('data/inference.csv')[list(FEATURE_NAMES)]\n"
        "for size in {sizes}:\n"
        "    table = pd.concat([rows] * (size // len(rows) + 1)).iloc[:size]\n"
        "    ours = {{'records': table.to_dict('records')}}\n"
        "    mlflow = {{'dataframe_split': table.to_dict(orient='split', index=False)}}\n"
        "    open(f'{out}/ours-{{size}}.json', 'w').write(json.dumps(ours))\n"
        "    open(f'{out}/mlflow-{{size}}.json', 'w').write(json.dumps(mlflow))\n"
    ).format(pkg="my_ml_project", sizes=tuple(CASES), out=folder)
    subprocess.run([".venv/bin/python", "-c", script], cwd=project, check=True)
    return {
        (name, size): folder / f"{name}-{size}.json"
        for name in ("ours", "mlflow")
        for size in CASES
    }


def champion_files(project: Path, folder: Path) -> Path:
    """Download the champion's MLflow files with the project's own MLflow; return the folder."""
    script = (
        "import mlflow.artifacts\n"
        "from my_ml_project.settings import TrackingSettings\n"
        "from my_ml_project.tracking import configure\n"
        "configure(TrackingSettings())\n"
        "mlflow.artifacts.download_artifacts(\n"
        f"    'models:/my-ml-project@champion', dst_path='{folder}'\n"
        ")\n"
    )
    subprocess.run([".venv/bin/python", "-c", script], cwd=project, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10, help="of load per measurement")
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        port, path, body, clients, seconds = args.client
        figures = asyncio.run(
            _load(int(port), path, Path(body).read_bytes(), int(clients), float(seconds))
        )
        print(json.dumps(figures))
        return

    environment = env()
    with tempfile.TemporaryDirectory(prefix="service-bench-") as tmp:
        root = Path(tmp)
        project = root / "project"
        print("rendering, installing and training a project ...", file=sys.stderr)
        timed(copy_args(project, {"task": "classification"}), REPO, environment)
        timed(["make", "install"], project, environment)
        timed(["make", "pipeline"], project, environment)
        print("installing MLflow ...", file=sys.stderr)
        mlflow, mlflow_version = mlflow_venv(project, root / "mlflow", environment)
        requests = bodies(project, root)
        tracking = {**environment, "MLFLOW_TRACKING_URI": "sqlite:///mlruns/mlflow.db"}
        tracking["PATH"] = f"{mlflow.parent}:{tracking['PATH']}"  # MLflow starts its `uvicorn`
        ports = {"ours": free_port(), "mlflow": free_port()}
        champion = champion_files(project, root / "champion")
        commands = {
            "ours": [".venv/bin/my-ml-project", "serve", "--port", str(ports["ours"])],
            "mlflow": [str(mlflow), "models", "serve", "-m", str(champion),
                       "--env-manager", "local", "-h", "127.0.0.1", "-p", str(ports["mlflow"])],
        }  # fmt: skip
        paths = {"ours": ("/health", "/predict"), "mlflow": ("/health", "/invocations")}
        servers = {
            name: subprocess.Popen(
                command,
                cwd=project,
                env=tracking,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, command in commands.items()
        }
        try:
            for name, server in servers.items():
                wait_ready(ports[name], server, paths[name][0])
            for (name, size), body in requests.items():  # warm-up
                load(ports[name], paths[name][1], body, CASES[size], 2)
            results: dict[tuple[str, int], list[dict]] = {key: [] for key in requests}
            for round_ in range(args.rounds):
                for size, clients in CASES.items():
                    for name in servers:
                        figures = load(
                            ports[name], paths[name][1], requests[name, size], clients, args.seconds
                        )
                        results[name, size].append(figures)
                        print(f"round {round_ + 1}: {name} {size}-row: {figures}", file=sys.stderr)
            memory = {name: rss_mb(server.pid) for name, server in servers.items()}
        finally:
            for server in servers.values():
                server.terminate()
                server.wait(timeout=60)

    print(f"\nours: `serve` (configs/serve.yaml); MLflow {mlflow_version}: `mlflow models serve`")
    print(f"{args.rounds} rounds of {args.seconds:g} s; medians; ratio: ours / MLflow per round\n")
    print("| request | clients | server | req/s | rows/s | p50 ms | p99 ms | failed | client CPU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, clients in CASES.items():
        for name in servers:
            runs = results[name, size]

            def median(key: str, runs: list[dict] = runs) -> float:
                return statistics.median(run[key] for run in runs)

            failed = sum(run["failed"] for run in runs)
            print(
                f"| {size} rows | {clients} | {name} | {median('req_s'):.0f} "
                f"| {median('req_s') * size:,.0f} | {median('p50_ms'):.0f} "
                f"| {median('p99_ms'):.0f} | {failed} | {median('client_cpu'):.0%} |"
            )
    print()
    for size in CASES:
        ratios = [
            o["req_s"] / m["req_s"]
            for o, m in zip(results["ours", size], results["mlflow", size], strict=True)
        ]
        listed = ", ".join(f"{ratio:.1f}x" for ratio in ratios)
        ratio = statistics.median(ratios)
        print(f"{size}-row requests: ours / MLflow = {ratio:.1f}x (rounds: {listed})")
    for name, figures in memory.items():
        listed = " + ".join(f"{mb:.0f}" for mb in figures)
        print(f"memory after the load, {name}: {listed} MB (process, then its children)")


if __name__ == "__main__":
    main()
