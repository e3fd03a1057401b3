"""Integration tests marked ``each_client`` run once per Kafka client (see tests/kafka_client.py)."""

from __future__ import annotations

import pytest

import tests.kafka_client


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kafka_client" in metafunc.fixturenames and metafunc.definition.get_closest_marker("each_client"):
        chosen = metafunc.config.getoption("kafka_client")
        clients = list(tests.kafka_client.CLIENTS) if chosen == "both" else [chosen]
        # Session scope: all runs of one client come before those of the next.
        metafunc.parametrize("kafka_client", clients, indirect=True, scope="session")


@pytest.fixture(scope="session")
def kafka_client(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "aiokafka")


@pytest.fixture(autouse=True)
def client_under_test(kafka_client: str):
    """Point :func:`tests.kafka_client.with_client` at this test's client."""
    tests.kafka_client.current = kafka_client
    yield tests.kafka_client.current
    tests.kafka_client.current = "aiokafka"
