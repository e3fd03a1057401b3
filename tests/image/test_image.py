"""The container image, built from the Dockerfile with podman and run as README's
Container section says: configured by environment variables only, against a real
broker, stopped with SIGTERM.

Run it with ``make image-test``: tests/image/prepare.sh readies the engine and the base
image first, and the Makefile passes its results on (``CONTAINERS_CONF``,
``CDCSINK_IMAGE_TEST_BASE``). It takes minutes, so ``make test`` leaves this folder out
(tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from cdcsink.checkpoint.lock import lock_path
from cdcsink.devtools.broker import free_port
from cdcsink.devtools.readback import read_back
from tests.integration.test_extensions import setup_extensions
from tests.workload import Seen, Workload, check_delivery, decode_canal, generate

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/cdcsink-image-test:latest"
#: Every image this test builds carries it. Its earlier builds stay in podman's storage as
#: the layer cache of the next; ``podman image prune --filter label=cdcsink-image-test=1``
#: removes the untagged ones (and with them that cache).
LABEL = "cdcsink-image-test=1"
#: The host's CA bundle, mounted over the build container's: where the package index is
#: reached through a TLS-inspecting proxy, only the host's bundle verifies it.
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
CHANGEFEED = "image-test"
PARTITIONS = 3

pytestmark = pytest.mark.broker


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f"podman {' '.join(args[:3])} ... exited {result.returncode}: {tail(result)}")
    return result


def tail(result: subprocess.CompletedProcess[str], lines: int = 30) -> str:
    return "\n".join((result.stdout + result.stderr).splitlines()[-lines:])


def build(base_image: str, *options: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    """``podman build`` of the repository's Dockerfile on ``base_image``."""
    args = ["build", "--build-arg", f"PYTHON_IMAGE={base_image}", "--label", LABEL, *options]
    if HOST_CA.exists():
        args += ["--volume", f"{HOST_CA}:{HOST_CA}:ro"]
    return podman(*args, str(ROOT), timeout=timeout, check=False)


def inspect_image(name: str) -> dict:
    return json.loads(podman("image", "inspect", name).stdout)[0]


def statefulset_security_context() -> dict:
    (doc,) = [d for d in yaml.safe_load_all((ROOT / "deploy/kubernetes/statefulset.yaml").read_text()) if d]
    return doc["spec"]["template"]["spec"]["securityContext"]


@pytest.fixture(scope="module")
def base_image() -> str:
    base = os.environ.get("CDCSINK_IMAGE_TEST_BASE")
    if not base:
        pytest.fail("CDCSINK_IMAGE_TEST_BASE is not set: run `make image-test` (tests/image/prepare.sh names the base image)")
    return base


@pytest.fixture(scope="module")
def image(base_image: str) -> str:
    result = build(base_image, "--format", "docker", "--tag", IMAGE)
    assert result.returncode == 0, f"podman build failed:\n{tail(result)}"
    return IMAGE


# --- the build ---------------------------------------------------------------------------

def test_an_unreachable_package_index_fails_the_first_step_that_needs_it(base_image: str):
    # No network, no cached layer: the first RUN that calls pip must fail the build, not
    # warn, succeed and leave a layer that later builds reuse.
    result = build(base_image, "--format", "docker", "--network", "none", "--no-cache", "--layers=false")
    output = result.stdout + result.stderr
    steps = [line for line in output.splitlines() if re.search(r"STEP \d+/\d+: ", line)]
    pip_steps = [step for step in steps if re.search(r"STEP \d+/\d+: RUN .*(?<![-\w])pip\b", step)]
    assert result.returncode != 0, "the build succeeded without a package index"
    assert pip_steps, f"no RUN step calls pip:\n{tail(result)}"
    assert steps[-1] == pip_steps[0], f"the build went on after {pip_steps[0]!r} to {steps[-1]!r}"
    assert re.search(r"^ERROR: ", output, re.M), f"no error from pip:\n{tail(result)}"


def test_no_wheel_or_pip_cache_ships_in_any_layer_the_dockerfile_adds(image: str, base_image: str, tmp_path: Path):
    # A file deleted in a later layer still ships in the layer that added it, so each
    # layer is read on its own rather than the image's merged file system.
    base_layers = inspect_image(base_image)["RootFS"]["Layers"]
    image_layers = inspect_image(image)["RootFS"]["Layers"]
    assert image_layers[: len(base_layers)] == base_layers
    archive = tmp_path / "image.tar"
    podman("save", "--format", "docker-archive", "--output", str(archive), image, timeout=600)
    shipped: list[str] = []
    added = 0
    with tarfile.open(archive) as outer:
        (manifest,) = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for name in manifest["Layers"][len(base_layers):]:
            added += 1
            with tarfile.open(fileobj=outer.extractfile(name), mode="r:*") as layer:
                shipped += [
                    member for member in layer.getnames()
                    if member.endswith(".whl") or re.match(r"(\./)?(wheels|root/\.cache|src)(/|$)", member)
                ]
    assert added == len(image_layers) - len(base_layers) > 0
    assert shipped == [], f"build leftovers in the image: {shipped[:10]}"


def test_the_healthcheck_needs_format_docker(image: str, base_image: str):
    assert inspect_image(image)["Healthcheck"]["Test"][:2] == ["CMD", "python"]
    oci = build(base_image, "--format", "oci", "--tag", IMAGE.replace(":latest", ":oci"))
    assert oci.returncode == 0, tail(oci)
    assert inspect_image(IMAGE.replace(":latest", ":oci")).get("Healthcheck") is None  # README: use --format docker


def test_the_image_runs_the_compiled_hot_path_and_ships_no_compiler(image: str):
    # The build stage compiles every C file in the tree (CDCSINK_REQUIRE_EXTENSIONS=1);
    # the runtime stage has the compiled modules but no compiler.
    absent = [name for name, source in setup_extensions() if not (ROOT / source).exists()]
    expected = "compiled" if not absent else f"partial (not built: {', '.join(absent)})"
    version = podman("run", "--rm", "--network", "none", image, "--version")
    assert version.stdout.rstrip().endswith(f", {expected})"), version.stdout
    compiler = podman("run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c",
                      "command -v gcc cc x86_64-linux-gnu-gcc", check=False)
    assert compiler.returncode != 0 and compiler.stdout == "", compiler.stdout


def test_the_image_carries_both_kafka_clients_and_the_postgres_source(image: str):
    """README: kafka-client=confluent and source.type postgres work in the image."""
    imports = podman("run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c",
                     "import confluent_kafka, psycopg2; print(confluent_kafka.libversion()[0], psycopg2.__version__)",
                     check=False)
    assert imports.returncode == 0, imports.stderr
    assert imports.stdout.split()[0][:1].isdigit(), imports.stdout


# --- a run against the broker ---------------------------------------------------------

@dataclass
class Run:
    workload: Workload
    topic: str
    status: str  # /proc/1/status inside the container while it ran
    healthz: tuple[int, bytes]
    healthcheck: subprocess.CompletedProcess[str]
    seen: Seen
    stop_seconds: float
    exit_code: int
    stdout: str
    stderr: str
    volume: dict[str, tuple[int, int]]  # name -> (uid, gid) of each entry in the state volume
    volume_owner: tuple[int, int]
    checkpoint: dict


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def checkpoint_ts(base_url: str) -> float | None:
    """``cdcsink_checkpoint_ts`` as /metrics shows it."""
    prefix = f'cdcsink_checkpoint_ts{{changefeed="{CHANGEFEED}"}} '
    for line in http_get(f"{base_url}/metrics")[1].decode().splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return None


def wait_for(what: str, condition, timeout: float, container: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        if podman("container", "inspect", "--format", "{{.State.Running}}", container).stdout.strip() != "true":
            logs = podman("logs", container, check=False)
            pytest.fail(f"the container stopped while waiting for {what}:\n{tail(logs)}")
        time.sleep(0.5)
    pytest.fail(f"{what}: not within {timeout:.0f}s")


@pytest.fixture(scope="module")
def run(image: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One container: started with environment variables only (no config file), followed
    until its checkpoint covers the input, observed, then stopped with SIGTERM."""
    suffix = os.urandom(4).hex()
    name = volume = f"cdcsink-image-test-{suffix}"
    topic = f"image-{suffix}"
    w = generate(2000, tables=3, keys=40, resolved_every=100, ddl_every=500)
    data = tmp_path_factory.mktemp("data")
    w.write(data / "events.ndjson").chmod(0o644)
    data.chmod(0o755)  # read by uid 10001 in the container
    port = free_port()
    podman("volume", "create", volume)
    try:
        podman(
            "run", "--detach", "--name", name, "--network", "host",
            "--volume", f"{volume}:/var/lib/cdcsink", "--volume", f"{data}:/data:ro",
            "--env", f"CDCSINK_CHANGEFEED={CHANGEFEED}",
            "--env", f"CDCSINK_SINK__URI=kafka://{kafka_bootstrap}/{topic}"
                     f"?protocol=canal-json&enable-tidb-extension=true&partition-num={PARTITIONS}",
            "--env", "CDCSINK_SOURCE__PATH=/data/events.ndjson",
            "--env", "CDCSINK_SOURCE__FOLLOW=true",
            "--env", f"CDCSINK_HTTP__PORT={port}",
            image,
        )
        base = f"http://127.0.0.1:{port}"
        wait_for("/healthz", lambda: http_get(f"{base}/healthz")[0] == 200, 60, name)
        healthz = http_get(f"{base}/healthz")
        wait_for("the checkpoint to cover the input", lambda: checkpoint_ts(base) == w.last_resolved, 120, name)
        healthcheck = podman("healthcheck", "run", name, check=False)
        status = podman("exec", name, "cat", "/proc/1/status").stdout
        records = asyncio.run(
            read_back(kafka_bootstrap, {(topic, p): 10**9 for p in range(PARTITIONS)}, idle_timeout=3)
        )
        seen = Seen({tp: decode_canal(recs) for tp, recs in records.items()})

        started = time.monotonic()
        podman("stop", "--time", "60", name, timeout=90)  # SIGTERM; SIGKILL only after 60s
        stop_seconds = time.monotonic() - started
        exit_code = int(podman("container", "inspect", "--format", "{{.State.ExitCode}}", name).stdout)
        logs = podman("logs", name)

        mountpoint = Path(podman("volume", "inspect", "--format", "{{.Mountpoint}}", volume).stdout.strip())
        entries = {p.name: (p.lstat().st_uid, p.lstat().st_gid) for p in mountpoint.iterdir()}
        checkpoint_file = mountpoint / "checkpoint.json"
        return Run(
            workload=w, topic=topic, status=status, healthz=healthz, healthcheck=healthcheck, seen=seen,
            stop_seconds=stop_seconds, exit_code=exit_code, stdout=logs.stdout, stderr=logs.stderr,
            volume=entries, volume_owner=(mountpoint.stat().st_uid, mountpoint.stat().st_gid),
            checkpoint=json.loads(checkpoint_file.read_text()) if checkpoint_file.exists() else {},
        )
    finally:
        podman("rm", "--force", name, check=False)
        podman("volume", "rm", "--force", volume, check=False)


def status_ids(status: str, field: str) -> set[int]:
    (line,) = [line for line in status.splitlines() if line.startswith(f"{field}:")]
    return {int(n) for n in line.split()[1:]}


def test_the_daemon_runs_as_uid_and_gid_10001_as_the_statefulset_says(run: Run):
    pod = statefulset_security_context()
    assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (10001, 10001, 10001)
    assert status_ids(run.status, "Uid") == {10001}  # real, effective, saved, file system
    assert status_ids(run.status, "Gid") == {10001}


def test_logs_are_json_lines_on_stderr(run: Run):
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert lines
    events = [json.loads(line) for line in lines]
    for event in events:
        assert {"event", "level", "timestamp"} <= event.keys(), event
        assert event["changefeed"] == CHANGEFEED, event


def test_healthz_answers_200_and_the_image_healthcheck_passes(run: Run):
    assert run.healthz[0] == 200, run.healthz
    assert run.healthcheck.returncode == 0, tail(run.healthcheck)


def test_every_row_reaches_kafka_in_order(run: Run):
    assert sum(1 for _ in run.seen.rows()) == run.workload.rows
    check_delivery(run.workload, run.seen)


def test_the_state_volume_holds_the_checkpoint_and_nothing_else(run: Run):
    # The checkpoint and its one-writer lock file; no shell dotfiles of the user's home.
    store = Path("checkpoint.json")
    assert run.volume == {store.name: (10001, 10001), lock_path(store).name: (10001, 10001)}
    assert run.volume_owner == (10001, 10001)
    assert run.checkpoint["checkpoint_ts"] == run.workload.last_resolved


def test_sigterm_drains_and_exits_0(run: Run):
    events = [json.loads(line) for line in run.stderr.splitlines()]
    assert any(e["event"].startswith("stopping") and e.get("signal") == "SIGTERM" for e in events), run.stderr[-2000:]
    assert run.exit_code == 0, run.stderr[-2000:]
    assert run.stop_seconds < 30, f"stop took {run.stop_seconds:.1f}s"
