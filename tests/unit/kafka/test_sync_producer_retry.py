"""The DDL/checkpoint producer retries retriable errors up to max-retry, then fails."""

from __future__ import annotations

import pytest
from aiokafka.errors import NodeNotReadyError, TopicAuthorizationFailedError

from cdcsink.kafka.aiokafka_client import AiokafkaSyncProducer


class FlakyProducer:
    """Fails its first ``failures`` sends with ``error``, then succeeds."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def send_and_wait(self, topic, value, key=None, partition=None, headers=None):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    async def instant(_delay):
        return None

    monkeypatch.setattr("cdcsink.kafka.aiokafka_client.asyncio.sleep", instant)


async def test_retriable_errors_are_retried_up_to_max_retry():
    flaky = FlakyProducer(3, NodeNotReadyError("broker down"))
    await AiokafkaSyncProducer(flaky, max_retry=3).send_message("t", 0, None, b"ddl")
    assert flaky.calls == 4


async def test_more_failures_than_max_retry_fail_the_send():
    flaky = FlakyProducer(10, NodeNotReadyError("broker down"))
    with pytest.raises(NodeNotReadyError):
        await AiokafkaSyncProducer(flaky, max_retry=2).send_message("t", 0, None, b"ddl")
    assert flaky.calls == 3


async def test_a_fatal_error_is_not_retried():
    flaky = FlakyProducer(10, TopicAuthorizationFailedError())
    with pytest.raises(TopicAuthorizationFailedError):
        await AiokafkaSyncProducer(flaky, max_retry=5).send_message("t", 0, None, b"ddl")
    assert flaky.calls == 1


async def test_send_messages_retries_each_partition_on_its_own():
    flaky = FlakyProducer(2, NodeNotReadyError("broker down"))
    await AiokafkaSyncProducer(flaky, max_retry=2).send_messages("t", 3, None, b"watermark")
    assert flaky.calls == 5
