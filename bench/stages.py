"""CPU per row of each stage of the hot path, in this process, the network left out.

``python -m bench.stages --input EVENTS.ndjson`` prints one JSON object: µs per
row (per line for ``read`` and ``decode``) of each stage, the best of
``--repeat`` passes over the same input (this shared machine's speed moves
between passes; the best pass is the one least disturbed). ``make bench`` runs
it twice, once as built and once with ``CDCSINK_NO_EXTENSIONS=1``, and prints
the two side by side.

Stages (each timed alone, on the output of the one before):

- ``read``: the file source's line splitting (:class:`cdcsink.source.LineSplitter`), 64 KiB reads;
- ``decode``: :func:`cdcsink.decode.decode_chunk`, lines to checked events;
- ``partition``: the index-value partitioner's hash;
- ``encode canal-json`` / ``encode open-protocol``: ``encode_row`` (open-protocol
  also ``pack``, per partition run of up to 4,096 rows), ``enable-tidb-extension=true``;
- ``batch append``: a partition's messages into aiokafka's record batch builder;
- ``sink``: the whole of it after decode: :class:`cdcsink.sink.kafka_sink.KafkaSink`
  routing, encoding (canal-json), buffering, handing batches over and acknowledging
  them at once (a producer that acks on hand-over), checkpoint tracking;
- ``pipeline``: ``read`` + ``decode`` + ``sink``, measured as one pass.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from typing import Any, Callable

from cdcsink import speedups

READ_SIZE = 64 * 1024
PARTITIONS = 6
#: The sink stage's producer is idle (may take the next batch) every this many chunks.
IDLE_EVERY = 15


def _best(repeat: int, run: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def _chunks(data: bytes) -> list[Any]:
    from cdcsink.source import LineSplitter

    splitter = LineSplitter("bench")
    chunks = []
    for start in range(0, len(data), READ_SIZE):
        chunks.extend(splitter.feed(data[start : start + READ_SIZE]))
    last = splitter.finish()
    if last is not None:
        chunks.append(last)
    return chunks


class _Batch:
    __slots__ = ("records",)

    def __init__(self) -> None:
        self.records: list[Any] = []

    def extend(self, messages: Any, start: int) -> int:
        self.records.extend(messages[start:])
        return len(messages) - start

    def __len__(self) -> int:
        return len(self.records)


class _AckAtOnce:
    """A producer whose every batch is acknowledged as it is handed over. A
    partition counts as busy except at every :data:`IDLE_EVERY`-th chunk, as if an
    acknowledgement took that long: batches of about the size they have against
    a broker (~25 rows here)."""

    def __init__(self) -> None:
        self.chunks = 0

    def new_batch(self) -> _Batch:
        return _Batch()

    def is_idle(self, topic: str, partition: int) -> bool:
        return self.chunks % IDLE_EVERY == 0

    async def send_batch(self, batch: _Batch, topic: str, partition: int, on_ack: Callable[[Any], None]) -> None:
        on_ack(None)


class _Topics:
    async def partitions(self, topic: str) -> int:
        return PARTITIONS


def _sink(protocol: str, producer: _AckAtOnce) -> Any:
    from cdcsink.checkpoint.tracker import CheckpointTracker
    from cdcsink.codec.options import EncoderOptions
    from cdcsink.codec.registry import build_encoder
    from cdcsink.route.config import DispatcherConfig
    from cdcsink.route.router import Router
    from cdcsink.sink.kafka_sink import KafkaSink

    router = Router([DispatcherConfig(matcher=["*.*"], topic="bench_{table}", partition="index-value")], "bench")
    return KafkaSink(
        router=router, encoder=build_encoder(EncoderOptions(protocol=protocol, enable_tidb_extension=True)),
        topics=_Topics(), producer=producer, sync_producer=None, tracker=CheckpointTracker(),  # type: ignore[arg-type]
        default_topic="bench",
    )


def measure(data: bytes, repeat: int) -> dict[str, Any]:
    from aiokafka.producer.message_accumulator import BatchBuilder

    from cdcsink.codec.options import EncoderOptions
    from cdcsink.codec.registry import build_encoder
    from cdcsink.decode import Decoder, decode_chunk
    from cdcsink.events import RowEvent
    from cdcsink.kafka.aiokafka_client import AiokafkaBatch
    from cdcsink.route.partition import index_value_partitioner

    chunks = _chunks(data)
    lines = sum(len(chunk.lines) for chunk in chunks)
    events: list[Any] = []

    def decode() -> None:
        events.clear()
        decoder = Decoder()
        for chunk in chunks:
            events.extend(decode_chunk(decoder, chunk)[0])

    out: dict[str, float] = {}
    out["read"] = _best(repeat, lambda: _chunks(data)) / lines * 1e6
    out["decode"] = _best(repeat, decode) / lines * 1e6
    rows = [event for event in events if type(event) is RowEvent]
    partitioners = {table: index_value_partitioner("shop", table) for table in {row.table for row in rows}}

    def partition() -> None:
        for row in rows:
            partitioners[row.table](row, PARTITIONS)

    out["partition"] = _best(repeat, partition) / len(rows) * 1e6
    by_partition: dict[tuple[str, int], list[RowEvent]] = {}
    for row in rows:
        by_partition.setdefault((row.table, partitioners[row.table](row, PARTITIONS)), []).append(row)
    messages: list[Any] = []
    for protocol in ("canal-json", "open-protocol"):
        encoder = build_encoder(EncoderOptions(protocol=protocol, enable_tidb_extension=True))

        def encode(encoder: Any = encoder) -> None:
            messages.clear()
            encode_row, pack = encoder.encode_row, encoder.pack
            for run in by_partition.values():
                for start in range(0, len(run), 4096):
                    messages.append(pack([encode_row(row) for row in run[start : start + 4096]]))

        out[f"encode {protocol}"] = _best(repeat, encode) / len(rows) * 1e6
    encoder = build_encoder(EncoderOptions(protocol="canal-json", enable_tidb_extension=True))
    encoded = [[encoder.encode_row(row) for row in run] for run in by_partition.values()]

    def append() -> None:
        for run in encoded:
            start = 0
            while start < len(run):
                batch = AiokafkaBatch(BatchBuilder(1024 * 1024, 0))
                start += batch.extend(run, start)

    out["batch append"] = _best(repeat, append) / len(rows) * 1e6

    decoder = Decoder()
    chunk_events = [decode_chunk(decoder, chunk)[0] for chunk in chunks]

    def sink() -> None:
        async def run() -> None:
            producer = _AckAtOnce()
            kafka_sink = _sink("canal-json", producer)
            for events_of_chunk in chunk_events:
                await kafka_sink.process(events_of_chunk)
                producer.chunks += 1
                await kafka_sink.after_chunk(False)
            await kafka_sink.flush()

        asyncio.run(run())

    out["sink"] = _best(repeat, sink) / len(rows) * 1e6

    def pipeline() -> None:
        async def run() -> None:
            producer = _AckAtOnce()
            kafka_sink = _sink("canal-json", producer)
            decoder = Decoder()
            for chunk in _chunks(data):
                await kafka_sink.process(decode_chunk(decoder, chunk)[0])
                producer.chunks += 1
                await kafka_sink.after_chunk(False)
            await kafka_sink.flush()

        asyncio.run(run())

    out["pipeline"] = _best(repeat, pipeline) / len(rows) * 1e6
    return {"extensions": speedups.status(), "rows": len(rows), "lines": lines,
            "us_per_row": {stage: round(value, 3) for stage, value in out.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="an NDJSON events file (make bench writes one)")
    parser.add_argument("--rows", type=int, default=200_000, help="lines of the input to use (default 200,000)")
    parser.add_argument("--repeat", type=int, default=5, help="passes per stage; the best is kept")
    args = parser.parse_args()
    from cdcsink.daemon import tune_gc

    with open(args.input, "rb") as f:
        data = b"".join(line for _, line in zip(range(args.rows), f))
    tune_gc()
    print(json.dumps(measure(data, args.repeat)))


if __name__ == "__main__":
    main()
