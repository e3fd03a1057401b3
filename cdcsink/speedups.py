"""The compiled hot path: which of its modules are in use.

Each compiled module (a C file beside its pure-Python reference, built by
``pip install`` where a C compiler exists; see ``setup.py``) computes exactly
what the pure-Python code beside it computes, faster; property tests hold the
two to the same output on every input. The Python code is the reference and
the fallback: it is used where a module was not built, and everywhere when
``CDCSINK_NO_EXTENSIONS=1`` is set in the environment.

``cdcsink --version`` and the ``extensions`` label of ``cdcsink_build_info``
say which is running: ``compiled`` (every module), ``partial`` (some) or
``pure-python``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

#: Every compiled module, by the name of its pure-Python reference.
MODULES: dict[str, str] = {
    "cdcsink.decode": "cdcsink.decode._speedups",
    "cdcsink.route.partition": "cdcsink.route._speedups",
    "cdcsink.codec.canal_json.encoder": "cdcsink.codec.canal_json._speedups",
    "cdcsink.codec.open_protocol.encoder": "cdcsink.codec.open_protocol._speedups",
}

_loaded: dict[str, bool] = {}


_ON = ("1", "true", "yes", "on")
_OFF = ("", "0", "false", "no", "off")


def disabled() -> bool:
    """True when ``CDCSINK_NO_EXTENSIONS`` asks for the pure-Python implementation."""
    return os.environ.get("CDCSINK_NO_EXTENSIONS", "").strip().lower() in _ON


def switch_problem(value: str) -> str | None:
    """Why ``value`` is not a value of ``CDCSINK_NO_EXTENSIONS`` (None: it is one).
    The daemon refuses any other value rather than run the compiled path unasked."""
    if value.strip().lower() in _ON + _OFF:
        return None
    return f"expected 1, true, yes or on (pure Python) or 0, false, no or off, got {value!r}"


def load(name: str) -> ModuleType | None:
    """The compiled module ``name``, or None (not built, or disabled)."""
    if disabled():
        _loaded[name] = False
        return None
    try:
        module = importlib.import_module(name)
    except ImportError:
        _loaded[name] = False
        return None
    _loaded[name] = True
    return module


def missing() -> list[str]:
    """The compiled modules this process runs without (all of them when disabled)."""
    if disabled():
        return list(MODULES.values())
    for name in MODULES.values():
        if name not in _loaded:
            load(name)
    return [name for name in MODULES.values() if not _loaded[name]]


def status() -> str:
    """``compiled``, ``partial`` or ``pure-python``: what this process runs."""
    absent = missing()
    if not absent:
        return "compiled"
    return "pure-python" if len(absent) == len(MODULES) else "partial"


def describe() -> str:
    """:func:`status` with the reason where not everything is compiled
    (``cdcsink --version`` prints it)."""
    kind = status()
    if kind == "compiled":
        return kind
    if disabled():
        return f"{kind} (CDCSINK_NO_EXTENSIONS is set)"
    return f"{kind} (not built: {', '.join(missing())})"
