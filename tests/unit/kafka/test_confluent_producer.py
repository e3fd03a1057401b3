"""The confluent row producer's batch and ack logic, with librdkafka replaced by a
recorder: one delivery callback per batch, and the fail-fast fence."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import KafkaError

from cdcsink.daemon import is_restartable, named_refusal
from cdcsink.errors import DeliveryError
from cdcsink.kafka.confluent.errors import client_error
from cdcsink.kafka.confluent.producer import ConfluentAsyncProducer, ConfluentBatch
from cdcsink.kafka.confluent.stats import parse_statistics
from cdcsink.kafka.errors import KafkaClientError


class Recorder:
    """Stands in for confluent_kafka.Producer: keeps what was produced, with its callback."""

    def __init__(self, full_after: int | None = None) -> None:
        self.produced: list[tuple[str, bytes, int, object]] = []
        self.purged = 0
        self.full_after = full_after

    def produce(self, topic, value, key, partition, on_delivery=None):
        if self.full_after is not None and len(self.produced) >= self.full_after:
            raise BufferError("Local: Queue full")
        self.produced.append((topic, value, partition, on_delivery))

    def purge(self, *args):
        self.purged += 1


class Poller:
    def call_in_loop(self, function, argument):
        asyncio.get_running_loop().call_soon(function, argument)

    async def stop(self):
        pass


def batch_of(*values: bytes, limit: int = 1 << 20) -> ConfluentBatch:
    batch = ConfluentBatch(limit)
    batch.extend([(None, v) for v in values], 0)
    return batch


async def producer(recorder: Recorder, timeout: float = 10.0) -> ConfluentAsyncProducer:
    return ConfluentAsyncProducer(recorder, Poller(), batch_bytes=1 << 20, timeout=timeout)  # type: ignore[arg-type]


def test_a_batch_takes_records_up_to_its_byte_limit_and_always_one():
    batch = ConfluentBatch(10)
    assert batch.extend([(None, b"x" * 50), (None, b"y")], 0) == 1 and len(batch) == 1  # larger than the limit, alone
    batch = ConfluentBatch(10)
    assert batch.extend([(b"k", b"1234"), (None, b"5678"), (None, b"90ab")], 0) == 2
    assert batch.extend([(None, b"c")], 0) == 1 and len(batch) == 3


async def test_only_the_last_message_of_a_batch_carries_the_delivery_callback():
    recorder = Recorder()
    p = await producer(recorder)
    acks = []
    await p.send_batch(batch_of(b"a", b"b", b"c"), "t", 2, acks.append)
    assert [(v, part) for _, v, part, _ in recorder.produced] == [(b"a", 2), (b"b", 2), (b"c", 2)]
    callbacks = [cb for *_, cb in recorder.produced]
    assert callbacks[:2] == [None, None] and callbacks[2] is not None
    assert not p.is_idle("t", 2) and p.inflight_requests() == 1
    callbacks[2](None, object())  # librdkafka's delivery report, from the poll thread
    await asyncio.sleep(0)
    assert acks == [None] and p.is_idle("t", 2) and p.inflight_requests() == 0
    await p.close()


async def test_the_first_failure_fails_every_outstanding_batch_purges_and_refuses_later_ones():
    recorder = Recorder()
    p = await producer(recorder)
    acks: dict[str, BaseException | None] = {}
    for name, partition in (("first", 0), ("second", 0), ("other", 1)):
        await p.send_batch(batch_of(name.encode()), "t", partition, lambda e, n=name: acks.setdefault(n, e))
    first_report = recorder.produced[0][3]
    first_report(KafkaError(KafkaError.NOT_ENOUGH_REPLICAS), None)
    await asyncio.sleep(0)
    assert isinstance(acks["first"], KafkaClientError) and "NOT_ENOUGH_REPLICAS" in str(acks["first"])
    assert "not sent: an earlier batch failed" in str(acks["second"]) and "not sent" in str(acks["other"])
    assert recorder.purged == 1
    # A late report of a failed batch (the purge reports it again) changes nothing.
    recorder.produced[1][3](None, None)
    await asyncio.sleep(0)
    assert "not sent" in str(acks["second"])
    await p.send_batch(batch_of(b"after"), "t", 0, lambda e: acks.setdefault("after", e))
    assert "not sent" in str(acks["after"]) and len(recorder.produced) == 3  # refused, never produced
    await p.close()


async def test_a_partition_without_acks_for_the_timeout_fails_the_run():
    recorder = Recorder()
    p = await producer(recorder, timeout=0.2)
    acks = []
    await p.send_batch(batch_of(b"a"), "t", 0, acks.append)
    p.on_error(KafkaError(KafkaError._TRANSPORT, "127.0.0.1:9092/1: Disconnected"))  # transient: noted only
    await asyncio.sleep(0.5)
    (error,) = acks
    assert isinstance(error, KafkaClientError) and error.retriable
    assert "no acknowledgement within 0.2s" in str(error) and "_TRANSPORT" in str(error)
    await p.close()


async def test_a_fatal_librdkafka_error_fails_the_outstanding_batches_and_is_not_retriable():
    recorder = Recorder()
    p = await producer(recorder)
    acks = []
    await p.send_batch(batch_of(b"a"), "t", 0, acks.append)
    p.on_error(KafkaError(KafkaError._GAPLESS_GUARANTEE, "gap", fatal=True))
    await asyncio.sleep(0)
    (error,) = acks
    assert not error.retriable and not is_restartable(DeliveryError("x", error))
    await p.close()


async def test_a_full_queue_waits_for_acknowledgements_and_goes_on_where_it_stopped():
    recorder = Recorder(full_after=2)
    p = await producer(recorder)
    acks = []
    await p.send_batch(batch_of(b"a", b"b"), "t", 0, acks.append)
    sending = asyncio.ensure_future(p.send_batch(batch_of(b"c", b"d"), "t", 0, acks.append))
    await asyncio.sleep(0.01)
    assert not sending.done() and len(recorder.produced) == 2
    recorder.full_after = None
    recorder.produced[1][3](None, None)  # the first batch acknowledged: room again
    await asyncio.wait_for(sending, 1)
    assert [v for _, v, _, _ in recorder.produced] == [b"a", b"b", b"c", b"d"]
    await p.close()


# -- librdkafka's errors in cdcsink's terms ---------------------------------------------------


@pytest.mark.parametrize(
    "error, retriable",
    [
        (KafkaError(KafkaError._TRANSPORT), True),
        (KafkaError(KafkaError._ALL_BROKERS_DOWN), True),
        (KafkaError(KafkaError._MSG_TIMED_OUT), True),
        (KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION), True),
        (KafkaError(KafkaError.NOT_ENOUGH_REPLICAS), True),
        (KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), False),
        (KafkaError(KafkaError._INVALID_ARG), False),
        (KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, "seq", fatal=True), False),
        (KafkaError(KafkaError._TRANSPORT, "x", fatal=True), False),
    ],
)
def test_retriable_or_not(error, retriable):
    translated = client_error(error, "topic t partition 0")
    assert translated.retriable is retriable and translated.name == error.name()
    assert str(translated).startswith(f"topic t partition 0: {error.name()}: ")
    assert is_restartable(DeliveryError("delivery failed", translated)) is retriable


@pytest.mark.parametrize(
    "error, says",
    [
        (KafkaError(KafkaError._AUTHENTICATION, "sasl_plaintext://127.0.0.1:9093/1: SASL authentication error: Authentication failed"), "SASL authentication failed: SASL authentication error"),
        (KafkaError(KafkaError._SSL, "ssl://h:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified"), "TLS certificate verification failed: certificate verify failed"),
        (KafkaError(KafkaError._SSL, "ssl://h:9093/1: SSL handshake failed: ssl/record/rec_layer_s3.c:1605: error:0A00045C:SSL routines::tlsv13 alert certificate required"), "TLS handshake failed: "),
        (KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Broker: Topic authorization failed"), "not authorized for the topic"),
    ],
)
def test_refusals_are_fatal_and_named(error, says):
    translated = client_error(error)
    assert not translated.retriable and says in translated.refusal
    assert not is_restartable(DeliveryError("delivery failed", translated))
    assert says in str(named_refusal(DeliveryError("delivery failed", translated)))


def test_a_dropped_tls_connection_is_not_a_refusal():
    translated = client_error(KafkaError(KafkaError._SSL, "ssl://h:9093/1: SSL transport error: unexpected eof while reading"))
    assert translated.refusal is None


# -- statistics -----------------------------------------------------------------------------

STATS = """{"name": "rdkafka#producer-1", "type": "producer", "time": 1700000000, "msg_cnt": 42,
 "brokers": {
  "127.0.0.1:9092/bootstrap": {"name": "127.0.0.1:9092/bootstrap", "nodeid": -1, "nodename": "127.0.0.1:9092",
     "outbuf_cnt": 0, "waitresp_cnt": 0, "txretries": 0, "rtt": {"cnt": 0}},
  "127.0.0.1:9092/111": {"name": "127.0.0.1:9092/111", "nodeid": 111, "nodename": "127.0.0.1:9092",
     "outbuf_cnt": 3, "waitresp_cnt": 5, "txretries": 7,
     "rtt": {"min": 100, "max": 90000, "avg": 2000, "cnt": 812, "p50": 1500, "p95": 8000, "p99": 25000}},
  "10.0.0.2:9092/112": {"name": "10.0.0.2:9092/112", "nodeid": 112, "nodename": "10.0.0.2:9092",
     "outbuf_cnt": 0, "waitresp_cnt": 0, "txretries": 2, "rtt": {"cnt": 0, "p50": 0}}}}"""


def test_statistics_are_reduced_to_the_cluster_brokers_in_seconds():
    stats = parse_statistics(STATS)
    assert set(stats.brokers) == {"127.0.0.1:9092", "10.0.0.2:9092"}  # not the bootstrap entry
    broker = stats.brokers["127.0.0.1:9092"]
    assert broker.rtt == {"0.5": 0.0015, "0.95": 0.008, "0.99": 0.025}
    assert (broker.outbuf_requests, broker.waitresp_requests) == (3, 5)
    assert stats.brokers["10.0.0.2:9092"].rtt == {}  # no request in the window: no percentile
    assert stats.retries == 9 and stats.queue_messages == 42


def test_retries_carry_over_the_producers_of_earlier_runs():
    from prometheus_client import generate_latest

    from cdcsink.metrics import Metrics

    class Row:
        statistics = parse_statistics(STATS)

    metrics = Metrics("cf")
    metrics.watch_kafka_client(Row())
    metrics.watch_kafka_client(Row())  # a restarted run's new producer
    text = generate_latest(metrics.registry).decode()
    assert 'cdcsink_kafka_retries_total{changefeed="cf"} 18.0' in text
    assert 'cdcsink_kafka_broker_rtt_seconds{broker="127.0.0.1:9092",changefeed="cf",quantile="0.99"} 0.025' in text
    assert 'cdcsink_kafka_queue_messages{changefeed="cf"} 42.0' in text


# -- DDL and watermark messages ---------------------------------------------------------------


class Reporting(Recorder):
    """Reports each message's delivery at once: the first ``failures`` with ``error``."""

    def __init__(self, failures: int, error: KafkaError) -> None:
        super().__init__()
        self.failures = failures
        self.error = error

    def produce(self, topic, value, key, partition, on_delivery=None, headers=None):
        self.produced.append((topic, value, partition, headers))
        on_delivery(self.error if len(self.produced) <= self.failures else None, None)


@pytest.fixture
def no_backoff(monkeypatch):
    real_sleep = asyncio.sleep

    async def instant(_delay):
        await real_sleep(0)

    monkeypatch.setattr("cdcsink.kafka.confluent.producer.asyncio.sleep", instant)


async def test_ddl_retriable_errors_are_retried_up_to_max_retry(no_backoff):
    from cdcsink.kafka.confluent.producer import ConfluentSyncProducer

    flaky = Reporting(3, KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
    await ConfluentSyncProducer(flaky, Poller(), max_retry=3).send_message("t", 0, None, b"ddl", [("h", b"v")])  # type: ignore[arg-type]
    assert len(flaky.produced) == 4 and flaky.produced[-1][3] == [("h", b"v")]
    flaky = Reporting(10, KafkaError(KafkaError._MSG_TIMED_OUT))
    with pytest.raises(KafkaClientError, match="_MSG_TIMED_OUT"):
        await ConfluentSyncProducer(flaky, Poller(), max_retry=2).send_message("t", 0, None, b"ddl")  # type: ignore[arg-type]
    assert len(flaky.produced) == 3


async def test_ddl_non_retriable_errors_are_not_retried(no_backoff):
    from cdcsink.kafka.confluent.producer import ConfluentSyncProducer

    flaky = Reporting(10, KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    with pytest.raises(KafkaClientError) as info:
        await ConfluentSyncProducer(flaky, Poller(), max_retry=5).send_messages("t", 2, None, b"watermark")  # type: ignore[arg-type]
    assert len(flaky.produced) == 2 and info.value.refusal is not None  # one try per partition
