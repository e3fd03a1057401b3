"""Which implementation of the hot path runs, as users see it: ``cdcsink --version``
and the ``extensions`` label of ``cdcsink_build_info``, with the compiled modules
and with ``CDCSINK_NO_EXTENSIONS=1``; and a build without a C compiler, which
falls back to pure Python with a warning and still runs.

The wheel with the compiled modules and the sdist with their C files:
tests/integration/test_packaging.py.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cdcsink import speedups

ROOT = Path(__file__).resolve().parents[2]

BUILD_INFO = """
from prometheus_client import generate_latest
from cdcsink.metrics import Metrics
for line in generate_latest(Metrics("cf").registry).decode().splitlines():
    if line.startswith("cdcsink_build_info{"):
        print(line)
"""


def setup_extensions() -> list[tuple[str, str]]:
    """``setup.py``'s EXTENSIONS: (module, C file) pairs."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == "EXTENSIONS" for t in targets):
                return list(ast.literal_eval(node.value))  # type: ignore[arg-type]
    raise AssertionError("setup.py has no EXTENSIONS")


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
    return {**clean, "PYTHONPATH": str(ROOT), **extra}


def run(args: list[str], **extra: str) -> str:
    result = subprocess.run(args, env=env(**extra), capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def expected_build() -> tuple[str, list[str]]:
    """What this tree's build runs: every module of EXTENSIONS whose C file is in the
    tree, where a C compiler is (the Makefile's install requires them there)."""
    if shutil.which("cc") is None:
        return "pure-python", [name for name, _ in setup_extensions()]
    absent = [name for name, source in setup_extensions() if not (ROOT / source).exists()]
    if not absent:
        return "compiled", []
    return ("pure-python" if len(absent) == len(setup_extensions()) else "partial"), absent


def test_the_modules_cdcsink_loads_are_the_ones_setup_py_builds():
    extensions = setup_extensions()
    assert sorted(speedups.MODULES.values()) == sorted(name for name, _ in extensions)
    for name, source in extensions:
        assert source == name.replace(".", "/") + ".c"  # beside its pure-Python reference
        assert (ROOT / source).parent.joinpath("__init__.py").exists()


def test_version_and_build_info_name_the_compiled_hot_path():
    kind, absent = expected_build()
    line = run([sys.executable, "-m", "cdcsink", "--version"])
    label = run([sys.executable, "-c", BUILD_INFO])
    if kind == "compiled":
        assert line.endswith(", compiled)\n"), line
    else:
        assert line.endswith(f", {kind} (not built: {', '.join(absent)}))\n"), line
    assert f'extensions="{kind}"' in label, label


@pytest.mark.parametrize("value", ["1", "true"])
def test_no_extensions_runs_and_reports_pure_python(value):
    line = run([sys.executable, "-m", "cdcsink", "--version"], CDCSINK_NO_EXTENSIONS=value)
    assert line.endswith(", pure-python (CDCSINK_NO_EXTENSIONS is set))\n"), line
    assert 'extensions="pure-python"' in run([sys.executable, "-c", BUILD_INFO], CDCSINK_NO_EXTENSIONS=value)
    loaded = run(
        [sys.executable, "-c", "import cdcsink.route.partition as p; print(p._speedups)"], CDCSINK_NO_EXTENSIONS=value
    )
    assert loaded == "None\n"


def build_wheel(tmp_path: Path, **extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``pip wheel`` of the files the Dockerfile copies, with the build backend of this
    environment (not an isolated one: seconds instead of a download)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "setup.py"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "cdcsink", src / "cdcsink", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    out = tmp_path / "wheel"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out), str(src)],
        env=env(**extra), capture_output=True, text=True, timeout=300,
    )
    return build, out


def test_a_build_that_requires_the_extensions_fails_without_a_compiler(tmp_path):
    build, _ = build_wheel(tmp_path, CC="false", CDCSINK_REQUIRE_EXTENSIONS="1")
    assert build.returncode != 0
    assert "not built (" in build.stdout + build.stderr
    assert "CDCSINK_REQUIRE_EXTENSIONS is set" in build.stdout + build.stderr


@pytest.mark.parametrize("how", ["CC=false", "CDCSINK_NO_EXTENSIONS=1"])
def test_a_build_without_a_c_compiler_or_with_no_extensions_installs_and_runs_pure_python(tmp_path, how):
    # CC=false: every compile fails, as where no compiler is installed: the build warns,
    # per module, and installs the pure-Python package. CDCSINK_NO_EXTENSIONS=1 at build
    # time skips them: a pure-Python wheel for any platform.
    name, value = how.split("=")
    build, out = build_wheel(tmp_path, **{name: value})
    assert build.returncode == 0, build.stderr[-3000:]
    output = build.stdout + build.stderr
    built = [name for name, source in setup_extensions() if (ROOT / source).exists()]
    assert built, "no C file in the tree"
    if how == "CC=false":
        for module in built:
            assert f"WARNING: cdcsink: {module} not built (" in output
        assert "the pure-Python implementation is used" in output
    else:
        assert "WARNING: cdcsink" not in output
        assert [wheel.name for wheel in out.glob("cdcsink-*-py3-none-any.whl")], list(out.iterdir())
    (wheel,) = out.glob("cdcsink-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert not [n for n in archive.namelist() if n.endswith((".so", ".pyd"))]

    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).strip()
    import sysconfig

    Path(purelib, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    clean = {k: v for k, v in env().items() if k != "PYTHONPATH"}
    version = subprocess.run(
        [str(env_dir / "bin" / "cdcsink"), "--version"], env=clean, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0, version.stderr
    assert f"pure-python (not built: {', '.join(speedups.MODULES.values())})" in version.stdout, version.stdout


def test_make_test_runs_the_hot_path_unit_tests_again_on_pure_python():
    # The suite runs on the compiled build; the unit tests of the hot path's areas run
    # a second time with CDCSINK_NO_EXTENSIONS=1 (where a C compiler is).
    dry = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    pytest_runs = [line for line in dry.stdout.splitlines() if " -m pytest " in line]
    assert pytest_runs[0].endswith("-m pytest -q"), pytest_runs
    if shutil.which("cc"):
        (second,) = pytest_runs[1:]
        assert second.startswith("CDCSINK_NO_EXTENSIONS=1 ")
        for area in ("decode", "codec", "route", "sink"):
            assert f" tests/unit/{area}" in second


def test_make_requires_the_compiled_modules_only_where_they_can_be_built(tmp_path):
    # A C compiler without Python's headers (Debian's python3 without python3-dev) gets
    # the pure-Python install with its warning, not a failed `make run`.
    headerless = tmp_path / "python3"
    headerless.write_text("#!/bin/sh\nexit 0\n")  # prints no "1": no Python.h found
    headerless.chmod(0o755)
    for python, required in ((str(headerless), ""), (sys.executable, "1" if shutil.which("cc") else "")):
        dry = subprocess.run(["make", "-n", "-B", ".venv/.installed", f"PYTHON={python}"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert dry.returncode == 0, dry.stderr
        (install,) = [line for line in dry.stdout.splitlines() if "pip install --quiet -e" in line]
        assert install.startswith(f"CDCSINK_REQUIRE_EXTENSIONS={required} "), install
