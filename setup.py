"""Build of cdcsink's compiled hot path (everything else is in pyproject.toml).

Each extension module is the compiled twin of a pure-Python reference beside
it (``cdcsink/speedups.py`` lists them and loads them). Building them is
optional: where no C compiler (or no Python headers) is found, ``pip install``
warns and installs the pure-Python package, which behaves the same, only
slower. ``CDCSINK_REQUIRE_EXTENSIONS=1`` turns that warning into a build
failure (the test set-up uses it, so a C file that does not compile cannot
pass unseen); ``CDCSINK_NO_EXTENSIONS=1`` at build time skips them.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

#: (module, source): one C file per module, beside its pure-Python reference.
EXTENSIONS = (
    ("cdcsink.decode._speedups", "cdcsink/decode/_speedups.c"),
    ("cdcsink.route._speedups", "cdcsink/route/_speedups.c"),
    ("cdcsink.codec.canal_json._speedups", "cdcsink/codec/canal_json/_speedups.c"),
    ("cdcsink.codec.open_protocol._speedups", "cdcsink/codec/open_protocol/_speedups.c"),
)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class OptionalBuildExt(build_ext):
    """build_ext that falls back to pure Python when a module cannot be compiled."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # no compiler at all
            self._fallback(f"no C extensions built ({error})")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as error:
            self._fallback(f"{ext.name} not built ({error})")

    def _fallback(self, what: str) -> None:
        if _flag("CDCSINK_REQUIRE_EXTENSIONS"):
            raise SystemExit(f"cdcsink: {what}; CDCSINK_REQUIRE_EXTENSIONS is set")
        print(f"WARNING: cdcsink: {what}; the pure-Python implementation is used", file=sys.stderr)


def _extensions() -> list[Extension]:
    if _flag("CDCSINK_NO_EXTENSIONS"):
        return []
    here = os.path.dirname(os.path.abspath(__file__))
    return [
        Extension(name, [source], extra_compile_args=["-O2"] if os.name != "nt" else [])
        for name, source in EXTENSIONS
        if os.path.exists(os.path.join(here, source))
    ]


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
