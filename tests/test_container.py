"""The generated container image: a hadolint-clean Dockerfile, and a real build that runs the jobs.

The build needs no container engine, no daemon and no image registry. buildah builds the
generated Dockerfile in chroot isolation against two local base images made here, passed in
through the Dockerfile's `PYTHON_IMAGE` and `UV_IMAGE` build arguments, exactly as a company
points them at its own mirror:

- a Debian root filesystem made with debootstrap, with the distribution's Python, standing in
  for `python:<version>-slim-bookworm` (bookworm's python3 is 3.11, the default answer);
- an image holding the uv binaries of the PyPI wheel of the version the Dockerfile pins,
  standing in for `ghcr.io/astral-sh/uv`.

Both live in a containers store under `~/.cache/copier-mlops/containers` (or
`$COPIER_MLOPS_CONTAINER_CACHE`), tagged with a hash of their recipe, so only the first run pays
for debootstrap. The service is started in a network namespace of its own, so port 8080 of the
machine is never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import REPO, exclusive, project_files, run_command

DOCKERFILE = REPO / "template" / "{% if use_docker %}Dockerfile{% endif %}.jinja"
HADOLINT = Path(sys.executable).with_name("hadolint")
DOCKER_FILES = {"Dockerfile", ".dockerignore"}

# The Debian release whose python3 is the default answer's Python (3.11).
DEBIAN_SUITE = "bookworm"
# Bump to rebuild the cached base images after changing how they are made.
BASE_RECIPE = "debootstrap-minbase-python3-v1"
# Budget of the default image: ~115 MB of Debian and Python, ~305 MB of dependencies (scipy,
# pandas, scikit-learn, numpy, MLflow, SQLAlchemy ...) and ~115 MB of their compiled bytecode
# (`--build-arg COMPILE_BYTECODE=0` leaves that out, for ~3 s more at every start).
MAX_IMAGE_MB = 550  # regression guard (535 MB built): the 450 MB target is not met (README)
IMAGE = "localhost/copier-mlops-test/my-ml-project:container-test"
SAGEMAKER_IMAGE = "localhost/copier-mlops-test/my-ml-project:sagemaker-test"


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"python_version": "3.13"}, id="py313"),
        pytest.param(
            {"project_name": "Cost $HOME Model", "description": "Predicts $ costs."}, id="dollars"
        ),
        pytest.param({"platforms": ["sagemaker"]}, id="sagemaker"),
    ],
)
def test_dockerfile_is_hadolint_clean(
    render: Callable[..., Path], run: Callable[..., subprocess.CompletedProcess[str]], answers: dict
) -> None:
    project = render(**answers)
    assert project_files(project) >= DOCKER_FILES
    dockerfile = (project / "Dockerfile").read_text()
    version = answers.get("python_version", "3.11")
    assert f"ARG PYTHON_IMAGE=python:{version}-slim-bookworm" in dockerfile
    run([str(HADOLINT), "--no-color", "--failure-threshold", "style", "Dockerfile"], cwd=project)


def test_docker_answer_no_leaves_out_the_container(render: Callable[..., Path]) -> None:
    project = render(use_docker=False)
    assert not DOCKER_FILES & project_files(project)
    assert "docker-" not in (project / "Makefile").read_text()


def test_makefile_builds_with_docker_or_podman(
    render: Callable[..., Path], run: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    project = render()
    (project / "uv.lock").touch()  # `make -n` must not need to lock
    docker = run(["make", "-n", "docker-build", "docker-run"], cwd=project).stdout
    assert "docker build  -t my-ml-project:latest ." in docker
    assert "docker run --rm -p 8080:8080 my-ml-project:latest" in docker
    podman = run(
        ["make", "-n", "docker-build", "docker-run", "CONTAINER=podman", "ARGS=train"], cwd=project
    ).stdout
    assert "podman build --format docker -t my-ml-project:latest ." in podman
    assert "podman run --rm -p 8080:8080 my-ml-project:latest train" in podman
    assert "docker-build" in run(["make"], cwd=project).stdout


# --- the real build --------------------------------------------------------------------------


class Buildah:
    """buildah on a store of this suite's own, in chroot isolation, with bounded commands."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.env = dict(os.environ)
        self.env["BUILDAH_ISOLATION"] = "chroot"
        # Build caches (`RUN --mount=type=cache`, the uv cache) persist across runs here.
        (cache / "tmp").mkdir(parents=True, exist_ok=True)
        self.env["TMPDIR"] = str(cache / "tmp")
        self.driver = self._pick_driver()

    def _configure(self, driver: str) -> None:
        graphroot = self.cache / f"storage-{driver}"
        # Run-time state (mounts, locks) belongs on a file system that a reboot clears.
        runroot = Path("/run" if os.access("/run", os.W_OK) else tempfile.gettempdir()) / (
            "copier-mlops-containers-" + hashlib.sha256(bytes(graphroot)).hexdigest()[:12]
        )
        conf = self.cache / f"storage-{driver}.conf"
        conf.write_text(
            f'[storage]\ndriver = "{driver}"\ngraphroot = "{graphroot}"\nrunroot = "{runroot}"\n'
        )
        self.env["CONTAINERS_STORAGE_CONF"] = str(conf)

    def _pick_driver(self) -> str:
        """overlay where the kernel allows it (fast, small); vfs, which works anywhere, if not."""
        wanted = os.environ.get("COPIER_MLOPS_STORAGE_DRIVER")
        for driver in [wanted] if wanted else ["overlay", "vfs"]:
            self._configure(driver)
            probe = self("from", "scratch", check=False)
            if probe.returncode == 0:
                container = probe.stdout.strip()
                mounted = self("mount", container, check=False).returncode == 0
                self("rm", container, check=False)
                if mounted:
                    return driver
        pytest.fail(f"no containers storage driver works here: {probe.stderr}")

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 600, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_command(["buildah", *args], cwd, self.env, check=check, timeout=timeout)

    def exists(self, image: str) -> bool:
        return self("inspect", "--type", "image", image, check=False).returncode == 0

    def config(self, image: str) -> dict:
        return json.loads(self("inspect", "--type", "image", image).stdout)["Docker"]["config"]

    @contextlib.contextmanager
    def container(self, image: str) -> Iterator[str]:
        name = self("from", "--pull=never", image).stdout.strip()
        try:
            yield name
        finally:
            self("rm", name, check=False)

    def commit_rootfs(self, tree: Path, image: str, *config: str) -> None:
        """Commit the directory `tree` as the single-layer image `image`."""
        with self.container("scratch") as name:
            mountpoint = Path(self("mount", name).stdout.strip())
            subprocess.run(["cp", "-a", f"{tree}/.", str(mountpoint)], check=True)
            self("umount", name)
            self("config", *config, name)
            self("commit", "--format", "docker", name, image)

    def prune_other_tags(self, image: str) -> None:
        """Drop older images of the same repository (their recipe changed)."""
        repo = image.rsplit(":", 1)[0]
        listing = json.loads(self("images", "--json").stdout or "[]")
        for entry in listing:
            for name in entry.get("names") or []:
                if name.rsplit(":", 1)[0] == repo and name != image:
                    self("rmi", name, check=False)


def _cache_dir() -> Path:
    if override := os.environ.get("COPIER_MLOPS_CONTAINER_CACHE"):
        return Path(override)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "copier-mlops" / "containers"


def _tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


@pytest.fixture(scope="session")
def buildah() -> Buildah:
    missing = [tool for tool in ("buildah", "debootstrap", "unshare", "ip") if not _tool(tool)]
    problem = None
    if os.geteuid() != 0:
        problem = "the image build test runs as root (debootstrap, rootful buildah)"
    elif missing:
        problem = f"missing {', '.join(missing)}: `bash .ci/run` installs them"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)  # CI must not skip the real build silently
        pytest.skip(problem)
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    return Buildah(cache)


_SOURCE_URL = re.compile(r"(?:^deb\s+(?:\[[^]]*\]\s+)?|^URIs:\s*)(\S+)", re.M)


def _debian_mirror() -> str:
    """The Debian mirror apt is configured with here (an override wins), else deb.debian.org."""
    if override := os.environ.get("COPIER_MLOPS_DEBIAN_MIRROR"):
        return override
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for source in sources:
        if source.suffix not in {".list", ".sources", ""} or not source.is_file():
            continue
        for url in _SOURCE_URL.findall(source.read_text()):
            if url.rstrip("/").endswith("/debian"):
                return url
    return "http://deb.debian.org/debian"


def _ca_bundle() -> Path:
    """The CA bundle this machine trusts: builds inside the image reach PyPI through the same
    network, so the stand-in base image carries it, as a company's base image carries its CA."""
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.fail("no CA bundle found (set SSL_CERT_FILE)")


def _build_once(buildah: Buildah, image: str, build: Callable[[Path], None]) -> str:
    """`build(tmp)` makes `image` unless the store has it; one builder at a time."""
    with exclusive(buildah.cache / "lock"):
        if not buildah.exists(image):
            with tempfile.TemporaryDirectory(dir=buildah.cache / "tmp") as tmp:
                build(Path(tmp))
    return image


@pytest.fixture(scope="session")
def python_image(buildah: Buildah) -> str:
    """Local stand-in for python:3.11-slim-bookworm: debootstrap minbase + python3, trimmed."""
    suite, mirror, ca = DEBIAN_SUITE, _debian_mirror(), _ca_bundle().read_bytes()
    recipe = json.dumps([BASE_RECIPE, suite, mirror, hashlib.sha256(ca).hexdigest()])
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    image = f"localhost/copier-mlops-test/python:3.11-{digest}"

    def build(tmp: Path) -> None:
        rootfs = tmp / "rootfs"
        proc = subprocess.run(
            [_tool("debootstrap") or "debootstrap", "--variant=minbase", "--include=python3",
             suite, str(rootfs), mirror],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            pytest.fail(f"debootstrap {suite} from {mirror} failed:\n{proc.stdout[-3000:]}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                     "usr/share/man", "usr/share/info", "usr/share/locale"):  # fmt: skip
            for path in (rootfs / junk).glob("*"):
                if path.is_file() or path.is_symlink():
                    path.unlink()
                elif path.name != "partial":
                    shutil.rmtree(path)
        (rootfs / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
        (rootfs / "etc/ssl/certs/ca-certificates.crt").write_bytes(ca)
        buildah.commit_rootfs(
            rootfs, image,
            "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--env", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            "--env", "LANG=C.UTF-8",
            "--cmd", "python3",
        )  # fmt: skip
        buildah.prune_other_tags(image)

    return _build_once(buildah, image, build)


@pytest.fixture(scope="session")
def uv_image(buildah: Buildah) -> str:
    """Local stand-in for ghcr.io/astral-sh/uv:<version>: /uv and /uvx from the PyPI wheel of
    the version the Dockerfile pins."""
    match = re.search(r"^ARG UV_IMAGE=\S+:(\d+\.\d+\.\d+)$", DOCKERFILE.read_text(), re.M)
    assert match, "the Dockerfile must pin ghcr.io/astral-sh/uv to an exact version"
    version = match.group(1)
    image = f"localhost/copier-mlops-test/uv:{version}"

    def build(tmp: Path) -> None:
        target = tmp / "wheel"
        subprocess.run(
            [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--no-deps",
             "--target", str(target), f"uv=={version}"],
            check=True, timeout=300,
        )  # fmt: skip
        tree = tmp / "tree"
        tree.mkdir()
        for binary in ("uv", "uvx"):
            shutil.copy2(target / "bin" / binary, tree / binary)
        buildah.commit_rootfs(tree, image)

    return _build_once(buildah, image, build)


_SERVE_DRIVER = r"""
import json, subprocess, sys, time, urllib.request
container, deadline = sys.argv[1], float(sys.argv[4])
server, healthcheck = json.loads(sys.argv[2]), json.loads(sys.argv[3])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
run = ["buildah", "run", "--isolation", "chroot", container, "--"]
service = subprocess.Popen(run + server)
end = time.monotonic() + deadline
while time.monotonic() < end:
    if service.poll() is not None:
        sys.exit(f"the service exited with {service.returncode} before it was healthy")
    if subprocess.run(run + healthcheck, capture_output=True).returncode == 0:
        with urllib.request.urlopen("http://127.0.0.1:8080/health", timeout=5) as response:
            print(json.dumps({"status": response.status, "body": json.load(response)}))
        sys.exit(0)
    time.sleep(1)
sys.exit(f"the HEALTHCHECK did not pass within {deadline} s")
"""


@pytest.mark.slow
@pytest.mark.container
def test_image_builds_and_runs_the_jobs_and_the_service(
    buildah: Buildah,
    python_image: str,
    uv_image: str,
    render: Callable[..., Path],
    run: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    started = time.monotonic()
    # With sagemaker: the default target is unchanged, and the `sagemaker` target is built too.
    project = render(platforms=["sagemaker"])
    run(["uv", "lock"], cwd=project)  # the Dockerfile syncs `--locked`: `make install` writes it
    with exclusive(buildah.cache / "lock"):  # the store is ours alone until the image is gone again
        try:
            report = _build_and_run(buildah, project, python_image, uv_image)
        finally:
            buildah("rmi", "--force", IMAGE, SAGEMAKER_IMAGE, check=False)
            buildah("rm", "--all", check=False)  # buildah leaves the `uv` stage's container
            buildah("rmi", "--prune", check=False)  # the layers cached for the second target
    report["total s"] = round(time.monotonic() - started)
    print(f"\ncontainer test: {json.dumps(report)}")
    assert report["image MB"] <= MAX_IMAGE_MB, report


# containers/storage losing its layer pipe while committing a step (seen once in CI, on a host
# short of disk) is a fault of the build machine, not of the Dockerfile: that one is retried.
STORAGE_FAULT = re.compile(r"committing container for step .*(closed pipe|no space left)", re.S)


def _build_once_more_on_a_storage_fault(buildah: Buildah, *args: str, cwd: Path) -> None:
    first = buildah(*args, check=False, timeout=900, cwd=cwd)
    if first.returncode != 0 and STORAGE_FAULT.search(first.stderr):
        print(f"\nbuildah storage fault, building once more:\n{first.stderr[-1500:]}")
        buildah("rm", "--all", check=False)
        buildah(*args, timeout=900, cwd=cwd)
    elif first.returncode != 0:
        pytest.fail(f"`buildah {' '.join(args)}` exited {first.returncode}\n{first.stderr[-5000:]}")


def _build_and_run(
    buildah: Buildah, project: Path, python_image: str, uv_image: str
) -> dict[str, float | str]:
    """Build the project's image, check its configuration, run jobs and the service in it."""
    started = time.monotonic()
    build = [
        "build", "--isolation", "chroot", "--format", "docker", "--pull=never", "--layers",
        "--build-arg", f"PYTHON_IMAGE={python_image}", "--build-arg", f"UV_IMAGE={uv_image}",
    ]  # fmt: skip
    _build_once_more_on_a_storage_fault(buildah, *build, "--tag", IMAGE, ".", cwd=project)
    built = time.monotonic()

    config = buildah.config(IMAGE)
    user, _, group = config["User"].partition(":")
    assert user.isdigit(), "the image must run as a numeric user (runAsNonRoot)"
    assert int(user) != 0, "the image must not run as root"
    assert group.isdigit()
    entrypoint, command = config["Entrypoint"], config["Cmd"]
    assert entrypoint == ["my-ml-project"]
    assert command == ["serve", "--host", "0.0.0.0"]
    healthcheck = config["Healthcheck"]["Test"]
    assert healthcheck[:2] == ["CMD", "python"], healthcheck  # standard library: no curl inside

    with buildah.container(IMAGE) as name:

        def inside(*args: str, timeout: float = 300) -> str:
            return buildah("run", name, "--", *args, timeout=timeout).stdout  # chroot isolation

        # No uv and no build tool in the runtime image; the environment is read-only to the user.
        found = buildah("run", name, "--", "sh", "-c", "command -v uv gcc make curl", check=False)
        assert not found.stdout.strip(), found.stdout
        assert inside("sh", "-c", "test -w /app && ! test -w /opt/venv && id -u").strip() == user
        bytecode_kb = inside(
            "sh", "-c", "find /opt/venv -name __pycache__ -prune -exec du -sk {} + | "
            "awk '{s += $1} END {print s}'"
        )  # fmt: skip

        # The jobs run through the entry point, as the non-root user, into the working directory.
        for job in ("data", "train", "evaluate"):
            inside(*entrypoint, job, timeout=600)
        listing = inside("sh", "-c", "ls data artifacts mlruns").split()
        for produced in ("train.csv", "test.csv", "train_metrics.json", "evaluate_metrics.json"):
            assert produced in listing, listing
        tables = {t: inside("cat", f"data/{t}.csv") for t in ("train", "test", "inference")}
        jobs_done = time.monotonic()

        # The default command serves; the image's own HEALTHCHECK tells when it is up.
        proc = subprocess.run(
            ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
             sys.executable, "-c", _SERVE_DRIVER,
             name, json.dumps(entrypoint + command), json.dumps(healthcheck[1:]), "120"],
            env=buildah.env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        health = json.loads(proc.stdout.strip().splitlines()[-1])
        assert health["status"] == 200
        assert health["body"]["status"] == "ok"
    served = time.monotonic()

    # The `sagemaker` target: the same layers (cached above) behind SageMaker's contract.
    buildah(*build, "--target", "sagemaker", "--tag", SAGEMAKER_IMAGE, ".", cwd=project)
    sagemaker = _sagemaker_contract(buildah, tables, user)

    return {
        "image MB": _image_size_mb(buildah, IMAGE),
        "bytecode MB": round(int(bytecode_kb.strip() or 0) / 1000),
        "storage": buildah.driver,
        "build s": round(built - started),
        "data+train+evaluate s": round(jobs_done - built),
        "serve+health s": round(served - jobs_done),
        "sagemaker image MB": _image_size_mb(buildah, SAGEMAKER_IMAGE),
        **sagemaker,
        "sagemaker build+contract s": round(time.monotonic() - served),
    }


_SAGEMAKER_SERVE_DRIVER = r"""
import json, os, signal, subprocess, sys, time, urllib.error, urllib.request
container, opt_ml, server = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
rows = sys.argv[4]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
run = ["buildah", "run", "--isolation", "chroot", "--volume", f"{opt_ml}:/opt/ml", container]
service = subprocess.Popen(
    run + ["--"] + server, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
)

def call(path, body=None, headers={}):
    request = urllib.request.Request(f"http://127.0.0.1:8080{path}", body, headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()

end = time.monotonic() + 120
while True:
    if service.poll() is not None or time.monotonic() > end:
        sys.exit(f"no /ping answer (exit {service.poll()}):\n{service.stdout.read()}")
    try:
        if call("/ping")[0] == 200:
            break
    except OSError:
        time.sleep(0.5)
csv = {"Content-Type": "text/csv"}
results = {
    "ping": call("/ping"),
    "csv": call("/invocations", rows.encode(), csv),
    "json": call("/invocations", rows.encode(), {**csv, "Accept": "application/json"}),
    "short row": call("/invocations", b"1,2,3", csv),
    "text/plain": call("/invocations", rows.encode(), {"Content-Type": "text/plain"}),
}
# `docker stop`: SIGTERM to the entry point's process (pid namespace of our own).
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        continue
    if b"sagemaker" in cmdline and b"buildah" not in cmdline[0]:
        os.kill(int(pid), signal.SIGTERM)
stopped = time.monotonic()
service.wait(timeout=30)
results["stopped s"] = round(time.monotonic() - stopped, 1)
results["log"] = service.stdout.read()[-2000:]
print(json.dumps(results))
"""


def _opt_ml(root: Path, tables: dict[str, str], hyperparameters: dict[str, str]) -> Path:
    """/opt/ml as SageMaker prepares it on the host: owned by root, channels and config."""
    (root / "input/config").mkdir(parents=True)
    (root / "input/config/hyperparameters.json").write_text(json.dumps(hyperparameters))
    for channel in ("train", "test"):
        (root / "input/data" / channel).mkdir(parents=True)
        (root / "input/data" / channel / f"{channel}.csv").write_text(tables[channel])
    (root / "model").mkdir()
    (root / "output").mkdir()
    return root


def _sagemaker_contract(
    buildah: Buildah, tables: dict[str, str], user: str
) -> dict[str, float | str]:
    """`IMAGE train` and `IMAGE serve` with /opt/ml mounted, as SageMaker runs them."""
    config = buildah.config(SAGEMAKER_IMAGE)
    entrypoint = config["Entrypoint"]
    assert entrypoint == ["my-ml-project", "sagemaker"]
    assert config["User"] in ("", "0", "0:0"), config["User"]  # SageMaker starts it as root
    assert config["Labels"]["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    assert "SAGEMAKER_RUN_AS=app" in config["Env"]
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(dir=buildah.cache / "tmp") as tmp,
        buildah.container(SAGEMAKER_IMAGE) as name,
    ):
        hyperparameters = {"model.params.C": "0.5", "seed": "7"}

        def sagemaker(root: Path, action: str, *options: str) -> subprocess.CompletedProcess[str]:
            volume = ["--volume", f"{root}:/opt/ml"]
            return buildah("run", *volume, *options, name, "--", *entrypoint, action, check=False)

        # What breaks as the runtime's non-root user: /opt/ml/model and /opt/ml/output are root's.
        root = _opt_ml(Path(tmp) / "as-user", tables, hyperparameters)
        denied = sagemaker(root, "train", "--user", f"{user}:{user}")
        assert denied.returncode == 1
        assert "Permission denied" in denied.stderr
        assert not (root / "output/failure").exists()  # SageMaker would not even learn why

        # Started as root, as SageMaker does: the folders go to `app`, which runs the job.
        root = _opt_ml(Path(tmp) / "ok", tables, hyperparameters)
        trained = sagemaker(root, "train")
        assert trained.returncode == 0, trained.stderr[-3000:]
        model = {p.name: p.stat().st_uid for p in (root / "model").iterdir()}
        assert {"MLmodel", "model.skops", "train_metrics.json", "evaluate_metrics.json"} <= set(
            model
        )
        assert set(model.values()) == {int(user)}  # written by the user, not by root
        trained_at = time.monotonic()

        root_bad = _opt_ml(Path(tmp) / "bad", tables, {"epochs": "3"})
        refused = sagemaker(root_bad, "train")
        assert refused.returncode == 1
        failure = (root_bad / "output/failure").read_text()
        assert failure.startswith("unknown hyperparameter 'epochs'")

        _, *rows = tables["inference"].splitlines()[:4]
        plain = "\n".join(row.split(",", 1)[1] for row in rows)  # features only
        proc = subprocess.run(
            ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
             sys.executable, "-c", _SAGEMAKER_SERVE_DRIVER,
             name, str(root), json.dumps([*entrypoint, "serve"]), plain],
            env=buildah.env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        served = json.loads(proc.stdout.strip().splitlines()[-1])
    assert served["ping"][0] == 200
    assert served["csv"][0] == 200
    assert len(served["csv"][1].splitlines()) == 3
    assert len(json.loads(served["json"][1])["predictions"]) == 3
    assert served["short row"][0] == 422
    assert served["text/plain"][0] == 415
    assert served["stopped s"] < 30  # before SageMaker's SIGKILL
    assert "Finished server process" in served["log"]
    print(
        "\nsagemaker in the image:",
        json.dumps(
            {
                "as non-root user": [
                    line[-160:]
                    for line in denied.stderr.splitlines()
                    if "Permission denied" in line
                ],
                "train": sorted(model),
                "bad hyperparameter": failure.strip(),
                "serve": {k: v for k, v in served.items() if k != "log"},
            }
        ),
    )
    return {
        "sagemaker train s": round(trained_at - started),
        "sagemaker serve stop s": served["stopped s"],
    }


def _image_size_mb(buildah: Buildah, image: str) -> float:
    """The image's size as buildah reports it (decimal units, like `docker images`)."""
    (entry,) = json.loads(buildah("images", "--json", image).stdout)
    number, unit = entry["size"].split()
    scale = {"B": 1e-6, "kB": 1e-3, "KB": 1e-3, "MB": 1, "GB": 1e3}[unit]
    return float(number) * scale
