"""The Kafka client the integration tests run the sink with.

Tests marked ``each_client`` run once per client (``kafka-client=aiokafka``,
the default, and ``kafka-client=confluent``); the ``kafka_client`` fixture
(tests/integration/conftest.py) sets :data:`current` for each run, and every
sink URI such a test builds goes through :func:`with_client`. The clients
run are chosen with ``pytest --kafka-client=aiokafka|confluent|both`` (default
``both``, or ``CDCSINK_TEST_KAFKA_CLIENT``).
"""

from __future__ import annotations

CLIENTS = ("aiokafka", "confluent")

#: The client of the test that is running.
current = "aiokafka"


def with_client(uri: str) -> str:
    """``uri`` with the ``kafka-client`` parameter of the client under test
    (nothing added for the default client, so its URIs stay as they were)."""
    if current == "aiokafka":
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}kafka-client={current}"
