"""A TCP fault proxy for Kafka traffic, and a ledger of what it saw acknowledged.

The proxy sits between the daemon and a broker, or every broker of a cluster:
it rewrites the broker addresses in Metadata and FindCoordinator responses to
listeners of its own (one per advertised broker address, see
:mod:`tests.proxies`), so every connection goes through it whatever address the
broker advertises. It can:

- ``drop()``: abort every open connection at once;
- ``blackhole()`` / ``heal()``: stop moving bytes in both directions and hold
  new connections without connecting them upstream; on heal the held
  connections are aborted (as a long partition ends: the peers have long given
  up on them) and new ones work again;
- ``slow(delay)``: deliver every chunk ``delay`` seconds late, in order (responses
  too, so acknowledgements reach the daemon late);
- ``slow_responses(delay)``: the same for the broker's responses only (requests
  reach the broker whole and at once; acknowledgements come late).

While forwarding it reads the Kafka frames it carries: produce requests
(which records went to which partition) and their responses. A record counts
as acknowledged when a response without error for its partition has been
*handed to the daemon* by the proxy; DUPLICATE_SEQUENCE_NUMBER counts as no
error, as it does for an idempotent producer (librdkafka's): the broker says
it already holds those records, written by an earlier try whose response was
lost (a dropped connection). :class:`AckLedger` keeps those, so a test
can check at any moment that a stored checkpoint covers nothing the daemon
could not have seen acknowledged.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Callable

from aiokafka.protocol.produce import ProduceRequest_v3, ProduceRequest_v4, ProduceRequest_v5, ProduceRequest_v6, ProduceRequest_v7
from aiokafka.record.default_records import DefaultRecordBatch

from tests.proxies import AsyncListeners, ResponseRewriter, UnsupportedVersion, FrameReader, framed

_PRODUCE = 0
#: Produce response error codes that mean the records are in the log: none, DUPLICATE_SEQUENCE_NUMBER.
_WRITTEN = (0, 46)
_REQUESTS = {3: ProduceRequest_v3, 4: ProduceRequest_v4, 5: ProduceRequest_v5, 6: ProduceRequest_v6, 7: ProduceRequest_v7}

#: Turns a record value into the identity the ledger keeps (None: not tracked).
Identify = Callable[[bytes], tuple | None]


class AckLedger:
    """Records the proxy has seen the broker acknowledge (and handed back to the client)."""

    def __init__(self, identify: Identify) -> None:
        self.identify = identify
        self.acked: set[tuple] = set()

    def pending(self, body: bytes, version: int) -> dict[tuple[str, int], list[tuple]]:
        """What a produce request carries, by partition."""
        request = _REQUESTS[version].decode(body)
        out: dict[tuple[str, int], list[tuple]] = {}
        for topic, partitions in request.topics:
            for partition, data in partitions:
                ids = []
                while data:
                    batch = DefaultRecordBatch(data)
                    size = 12 + struct.unpack_from(">i", data, 8)[0]
                    for record in batch:
                        ident = self.identify(bytes(record.value))
                        if ident is not None:
                            ids.append(ident)
                    data = data[size:]
                out[(topic, partition)] = ids
        return out

    def acknowledge(self, pending: dict[tuple[str, int], list[tuple]], response: bytes, version: int) -> None:
        """Mark a request's records acknowledged where the response says so (error code 0,
        or 46, DUPLICATE_SEQUENCE_NUMBER: already written)."""
        decoded = _REQUESTS[version].RESPONSE_TYPE.decode(response)
        codes = {(topic, p[0]): p[1] for topic, partitions in decoded.topics for p in partitions}
        for tp, ids in pending.items():
            if codes.get(tp) in _WRITTEN:
                self.acked.update(ids)


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, proxy: "FaultProxy", client: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.client = client
        self.client_w = client_w
        self.upstream_w: asyncio.StreamWriter | None = None
        self.requests = FrameReader()
        self.responses = FrameReader()
        self.rewriter = ResponseRewriter(proxy.addresses)
        #: correlation id -> (api version, what the request carries) for produce requests.
        self.inflight: dict[int, tuple[int, dict]] = {}
        self.tasks: list[asyncio.Task] = []
        self.held = False

    def abort(self) -> None:
        for writer in (self.client_w, self.upstream_w):
            if writer is not None:
                writer.transport.abort()
        for task in self.tasks:
            task.cancel()

    def to_broker(self, data: bytes) -> None:
        for frame in self.requests.feed(data):
            self.rewriter.request(frame)
            api_key, version, correlation = struct.unpack_from(">hhi", frame)
            self.proxy.api_keys.add(api_key)
            if api_key == _PRODUCE and version in _REQUESTS:
                client_len = struct.unpack_from(">h", frame, 8)[0]
                body = frame[10 + max(client_len, 0) :]
                self.inflight[correlation] = (version, self.proxy.ledger.pending(body, version))
        assert self.upstream_w is not None
        self.upstream_w.write(data)

    def to_client(self, data: bytes) -> None:
        # Acknowledged once handed to the client: that is when the daemon can know.
        out = bytearray()
        for frame in self.responses.feed(data):
            (correlation,) = struct.unpack_from(">i", frame)
            entry = self.inflight.pop(correlation, None)
            if entry is not None:
                version, pending = entry
                self.proxy.ledger.acknowledge(pending, frame[4:], version)
            out += framed(self.rewriter.response(frame))
        if out:
            self.client_w.write(out)


class FaultProxy:
    """``upstream``: the broker's ``host:port``; ``port``: the first listener's (0: any)."""

    def __init__(self, upstream: str, ledger: AckLedger, port: int = 0) -> None:
        self.listeners = AsyncListeners(upstream, self._accept, port=port)
        self.addresses = self.listeners.addresses
        self.ledger = ledger
        self.port = port
        #: API keys of every request carried (what went through the proxy).
        self.api_keys: set[int] = set()
        self.links: set[_Link] = set()
        self.delay = 0.0
        self.response_delay = 0.0
        self._open = asyncio.Event()
        self._open.set()
        self.connections = 0

    async def start(self) -> "FaultProxy":
        self.port = await self.listeners.start()
        return self

    async def stop(self) -> None:
        for link in list(self.links):
            link.abort()
        await self.listeners.stop()

    # -- faults ------------------------------------------------------------

    def drop(self) -> int:
        """Abort every open connection; returns how many."""
        links = list(self.links)
        for link in links:
            link.abort()
        return len(links)

    def blackhole(self) -> None:
        self._open.clear()

    def heal(self) -> None:
        for link in [link for link in self.links if link.held]:
            link.abort()
        self._open.set()

    def slow(self, delay: float) -> None:
        self.delay = delay

    def slow_responses(self, delay: float) -> None:
        self.response_delay = delay

    # -- forwarding --------------------------------------------------------

    async def _accept(self, upstream: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(self, reader, writer)
        self.links.add(link)
        self.connections += 1
        try:
            if not self._open.is_set():
                link.held = True
                await self._open.wait()
                return  # heal() aborted it
            up_reader, link.upstream_w = await asyncio.open_connection(*upstream)
            link.tasks = [
                asyncio.create_task(self._pump(link, reader, link.to_broker)),
                asyncio.create_task(self._pump(link, up_reader, link.to_client)),
            ]
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            link.abort()
            self.links.discard(link)

    async def _pump(self, link: _Link, reader: asyncio.StreamReader, deliver: Callable[[bytes], None]) -> None:
        while True:
            data = await reader.read(256 * 1024)
            if not data:
                return
            if not self._open.is_set():
                link.held = True
                await self._open.wait()
                return  # heal() aborts held links: the bytes are lost with the connection
            delay = self.delay + (self.response_delay if deliver == link.to_client else 0.0)
            if delay:
                # Late and in order: this direction reads nothing more meanwhile.
                await asyncio.sleep(delay)
            try:
                deliver(data)
            except UnsupportedVersion:
                return  # in addresses.errors; the link is aborted
