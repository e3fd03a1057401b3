"""The wheel the container image installs (the Dockerfile's ``pip install .`` builds
it from the same files) holds every module, the compiled hot path included, and
runs on its own; the sdist carries what builds it (setup.py and the C files).

This builds that wheel, installs it apart from the source tree and runs the
installed ``cdcsink`` command against the broker. The image itself is built and
run by ``make image-test`` (tests/image/); a build without a C compiler is
tests/integration/test_extensions.py's.
"""

from __future__ import annotations

import email
import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path

import shutil

import pytest

from tests.integration.test_extensions import setup_extensions
from tests.workload import generate

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.broker


def copy_build_files(src: Path) -> Path:
    """The files the Dockerfile copies into its build stage (no compiled leftovers)."""
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "cdcsink", src / "cdcsink", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    return src


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # As the Dockerfile builds it: only the files it copies, an isolated build
    # with the backend pyproject names (and no build/ left over from another).
    # Where a C compiler is, a C file that does not compile fails the build, as in the image.
    src = copy_build_files(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("wheel")
    require = {"CDCSINK_REQUIRE_EXTENSIONS": "1"} if shutil.which("cc") else {}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(src)],
        check=True, capture_output=True, text=True, timeout=300, env={**os.environ, **require},
    )
    (built,) = out.glob("cdcsink-*.whl")
    return built


def test_the_wheel_holds_every_module_the_entry_point_and_the_dependencies(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
        metadata = email.message_from_bytes(archive.read(f"{dist_info}/METADATA"))
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "cdcsink").rglob("*.py")}
    assert modules - names == set(), "modules missing from the wheel"
    assert re.search(r"^cdcsink\s*=\s*cdcsink\.cli:main$", entry_points, re.M), entry_points
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]

    def name(requirement: str) -> str:
        return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()

    required = {name(r) for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r}
    assert required == {name(r) for r in declared}
    from cdcsink import __version__

    assert metadata["Version"] == __version__  # the one the daemon reports (cdcsink_build_info)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler: the wheel is pure Python (test_extensions.py)")
def test_the_wheel_is_a_platform_wheel_with_every_compiled_module(wheel: Path):
    # Every entry of setup.py's EXTENSIONS whose C file is in the tree, as a shared
    # library beside its pure-Python reference, for this interpreter and platform.
    assert not wheel.name.endswith("-none-any.whl"), wheel.name
    assert f"-cp{sys.version_info.major}{sys.version_info.minor}-" in wheel.name, wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    expected = {name.replace(".", "/") + suffix for name, source in setup_extensions() if (ROOT / source).exists()}
    assert expected, "no C file in the tree"
    assert expected <= names, f"compiled modules missing from the wheel: {sorted(expected - names)}"


def test_the_sdist_carries_setup_py_and_the_c_files(tmp_path):
    (tmp_path / "src").mkdir()
    src = copy_build_files(tmp_path / "src")
    out = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-c", f"from setuptools import build_meta; print(build_meta.build_sdist({str(out)!r}))"],
        cwd=src, capture_output=True, text=True, timeout=120,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    sdist = out / build.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    sources = {source for _, source in setup_extensions() if (ROOT / source).exists()}
    assert sources and sources <= names, f"C files missing from the sdist: {sorted(sources - names)}"
    assert {"setup.py", "pyproject.toml", "README.md"} <= names


def test_the_installed_wheel_runs_apart_from_the_source_tree(wheel: Path, kafka_bootstrap, unique, tmp_path):
    # A fresh environment that sees this one's dependencies (a .pth naming its
    # site-packages) but not its editable cdcsink (.pth files there are not read).
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    w = generate(100, tables=2, resolved_every=10)
    events = w.write(tmp_path / "events.ndjson")
    checkpoint = tmp_path / "cp.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_") and k != "PYTHONPATH"}
    env.update(
        CDCSINK_SOURCE__TYPE="file",
        CDCSINK_SOURCE__PATH=str(events),
        CDCSINK_SINK__URI=f"kafka://{kafka_bootstrap}/wheel-{unique}?protocol=canal-json&partition-num=2",
        CDCSINK_CHECKPOINT__STORE=f"file://{checkpoint}",
        CDCSINK_HTTP__ENABLED="false",
    )
    where = subprocess.run(
        [str(python), "-c", "import cdcsink.cli, cdcsink.sink.kafka_sink as m; print(cdcsink.cli.__file__); print(m.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    for module in where.stdout.split():
        assert Path(module).is_relative_to(purelib), where.stdout
    run = subprocess.run([str(env_dir / "bin" / "cdcsink"), "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(checkpoint.read_text())["checkpoint_ts"] == w.last_resolved
