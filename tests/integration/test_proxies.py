"""The test proxies carry every connection even when the broker advertises its
own address, as any real Kafka does (tests/proxies.py, tests/faultproxy.py):
they rewrite the broker addresses in Metadata and FindCoordinator responses,
with one listener per advertised broker.

The TLS, SASL, fault and kafka-source suites all run this way against the dev
broker (which advertises itself) and against CDCSINK_TEST_BOOTSTRAP's Kafka;
the tests here check the rewrite itself."""

from __future__ import annotations

import asyncio
import struct

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.protocol.coordination import FindCoordinatorResponse_v0, FindCoordinatorResponse_v1
from aiokafka.protocol.metadata import (
    MetadataResponse_v0,
    MetadataResponse_v1,
    MetadataResponse_v2,
    MetadataResponse_v3,
    MetadataResponse_v4,
    MetadataResponse_v5,
)

from cdcsink.devtools.broker import DevBroker
from tests.conftest import broker_to_front
from tests.faultproxy import AckLedger, FaultProxy
from tests.kafka_input import create_topic
from tests.proxies import AdvertisedAddresses, AsyncListeners, ResponseRewriter, UnsupportedVersion

BROKERS = [(1, "kafka-1.example", 9092), (2, "kafka-2.example", 9092), (3, "10.0.0.7", 9093)]
TOPICS = [(0, "orders", False, [(0, 0, 2, [2, 3], [2, 3], [])])]


def metadata(version: int):
    cls = [MetadataResponse_v0, MetadataResponse_v1, MetadataResponse_v2, MetadataResponse_v3,
           MetadataResponse_v4, MetadataResponse_v5][version]
    brokers = [(n, h, p) if version == 0 else (n, h, p, "rack-a") for n, h, p in BROKERS]
    topics = [(e, t, *(([i] if version >= 1 else []) + [[p[:5] if version < 5 else p for p in parts]]))
              for e, t, i, parts in TOPICS]
    fields = {0: [brokers, topics], 1: [brokers, 2, topics], 2: [brokers, "cluster", 2, topics]}
    return cls, cls(*fields.get(version, [0, brokers, "cluster", 2, topics]))


def request(api_key: int, version: int, correlation: int) -> bytes:
    return struct.pack(">hhih", api_key, version, correlation, -1)


def rewriter() -> tuple[ResponseRewriter, list[tuple[str, int]]]:
    opened: list[tuple[str, int]] = []

    def open_listener(host: str, port: int) -> int:
        opened.append((host, port))
        return 40000 + len(opened)

    return ResponseRewriter(AdvertisedAddresses(open_listener)), opened


@pytest.mark.parametrize("version", range(6))
def test_metadata_names_one_local_listener_per_advertised_broker(version):
    rewrite, opened = rewriter()
    cls, response = metadata(version)
    rewrite.request(request(3, version, 7))
    out = cls.decode(rewrite.response(struct.pack(">i", 7) + response.encode())[4:])
    assert [(b[0], b[1], b[2]) for b in out.brokers] == [(1, "127.0.0.1", 40001), (2, "127.0.0.1", 40002), (3, "127.0.0.1", 40003)]
    assert opened == [(h, p) for _, h, p in BROKERS]  # each listener forwards to its broker
    assert out.topics == response.topics  # the rest passes as it was
    # The same brokers again: the same listeners, none opened anew.
    rewrite.request(request(3, version, 8))
    again = cls.decode(rewrite.response(struct.pack(">i", 8) + response.encode())[4:])
    assert again.brokers == out.brokers and len(opened) == 3


def test_find_coordinator_answers_name_the_proxy():
    rewrite, opened = rewriter()
    rewrite.request(request(10, 0, 1))
    out = FindCoordinatorResponse_v0.decode(rewrite.response(struct.pack(">i", 1) + FindCoordinatorResponse_v0(0, 2, "kafka-2.example", 9092).encode())[4:])
    assert (out.coordinator_id, out.host, out.port) == (2, "127.0.0.1", 40001)
    rewrite.request(request(10, 1, 2))
    reply = FindCoordinatorResponse_v1(0, 0, None, 2, "kafka-2.example", 9092).encode()
    out = FindCoordinatorResponse_v1.decode(rewrite.response(struct.pack(">i", 2) + reply)[4:])
    assert (out.host, out.port) == ("127.0.0.1", 40001) and opened == [("kafka-2.example", 9092)]
    # No coordinator yet: passed on as it is.
    rewrite.request(request(10, 1, 3))
    none = FindCoordinatorResponse_v1(0, 15, "not available", -1, "", -1).encode()
    assert rewrite.response(struct.pack(">i", 3) + none) == struct.pack(">i", 3) + none


def test_other_responses_pass_untouched_and_a_later_version_is_refused():
    rewrite, _ = rewriter()
    rewrite.request(request(0, 7, 5))  # a produce request
    frame = struct.pack(">i", 5) + b"anything"
    assert rewrite.response(frame) == frame
    with pytest.raises(UnsupportedVersion, match="API key 3 v9"):
        rewrite.request(request(3, 9, 6))
    assert rewrite.addresses.errors


async def test_each_listener_forwards_to_the_broker_it_stands_for():
    async def broker(name: bytes):
        async def answer(reader, writer):
            writer.write(name)
            await writer.drain()
            writer.close()

        return await asyncio.start_server(answer, "127.0.0.1", 0)

    one, two = await broker(b"one"), await broker(b"two")
    ports = [s.sockets[0].getsockname()[1] for s in (one, two)]

    async def pipe(upstream, reader, writer):
        up_reader, up_writer = await asyncio.open_connection(*upstream)
        writer.write(await up_reader.read(10))
        await writer.drain()
        writer.close()
        up_writer.close()

    listeners = AsyncListeners(f"127.0.0.1:{ports[0]}", pipe)
    try:
        await listeners.start()
        # The bootstrap broker advertises itself: its address maps to the first listener.
        assert listeners.addresses.local("127.0.0.1", ports[0]) == ("127.0.0.1", listeners.port)
        _, other = listeners.addresses.local("127.0.0.1", ports[1])
        answers = []
        for port in (listeners.port, other):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            answers.append(await reader.read(10))
            writer.close()
        assert answers == [b"one", b"two"]
    finally:
        await listeners.stop()
        one.close()
        two.close()


@pytest.mark.broker
async def test_a_broker_advertising_itself_is_reached_only_through_the_fault_proxy(tmp_path, unique):
    with broker_to_front(tmp_path) as address:
        ledger = AckLedger(lambda value: (value,))
        proxy = await FaultProxy(address, ledger).start()
        bootstrap = f"127.0.0.1:{proxy.port}"
        topic = f"through-{unique}"
        try:
            await create_topic(bootstrap, topic, partitions=2)
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
            await producer.start()
            try:
                direct = {(b.host, b.port) for b in producer.client.cluster.brokers()}
                sent = [f"v{i}".encode() for i in range(20)]
                for i, value in enumerate(sent):
                    await producer.send_and_wait(topic, value, partition=i % 2)
            finally:
                await producer.stop()
            consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"g-{unique}",
                                        auto_offset_reset="earliest", enable_auto_commit=False)
            await consumer.start()
            try:
                got: list[bytes] = []
                while len(got) < len(sent):
                    for records in (await consumer.getmany(timeout_ms=1000)).values():
                        got += [r.value for r in records]
                await consumer.commit()
            finally:
                await consumer.stop()
        finally:
            await proxy.stop()
    assert direct == {("127.0.0.1", proxy.port)}, "the client was told an address that is not the proxy's"
    assert sorted(got) == sorted(sent)
    assert ledger.acked == {(value,) for value in sent}, "produce requests bypassed the proxy"
    # Produce, Fetch, OffsetCommit, FindCoordinator, JoinGroup, SyncGroup: all through the proxy.
    assert {0, 1, 8, 10, 11, 14} <= proxy.api_keys


@pytest.mark.broker
def test_the_dev_broker_can_advertise_its_own_address(tmp_path):
    """The premise of the tests above (and of broker_to_front): without the rewrite,
    clients would connect to the broker's own port, past any proxy."""

    async def advertised(bootstrap: str) -> set[tuple[str, int]]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            return {(b.host, b.port) for b in producer.client.cluster.brokers()}
        finally:
            await producer.stop()

    with DevBroker(log_path=tmp_path / "broker.log") as broker:
        assert asyncio.run(advertised(broker.bootstrap)) == {("127.0.0.1", broker.port)}
