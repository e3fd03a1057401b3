"""``cdcsink consume``: read a topic, decode its messages, print the events.

Any protocol :data:`cdcsink.codec.registry.PROTOCOLS` knows, read by TiCDC's
consumer rules (:class:`cdcsink.decode.messages.MessageReader`). The input
partitions are merged as the kafka source merges them
(:class:`cdcsink.source.kafka.merge.PartitionMerger`): a DDL copied to every
partition is printed once, after every partition's earlier rows; a resolved
event is printed when the lowest watermark over the partitions rises. So the
output, one event per line in cdcsink's NDJSON input format
(:mod:`cdcsink.decode.render`), is valid input for ``cdcsink run``. On a
terminal it prints a table instead.

Reads from the start of each partition, or from ``--offset``, ``--since`` or
the end (``--from-end``); stops at the end offsets it found when it started
unless ``--follow``; ``--count N`` stops after N events.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, BinaryIO, TextIO

from cdcsink.errors import ConfigError
from cdcsink.events import DDLEvent, Event, ResolvedEvent, RowEvent

#: Fetch wait, and how long to wait for nothing new before deciding a partition is at its end.
FETCH_WAIT_MS = 200


@dataclass
class ConsumeOptions:
    bootstrap: list[str]
    topic: str
    protocol: str
    compression: str = "none"
    partitions: list[int] | None = None
    #: "beginning", "end", "offset" or "since".
    start: str = "beginning"
    #: The offset (start "offset") or the time in ms since the epoch (start "since").
    start_at: int = 0
    follow: bool = False
    count: int | None = None
    skip_invalid: bool = False
    #: "ndjson" or "table".
    output: str = "ndjson"
    security: dict[str, Any] = field(default_factory=dict)


class UnknownTopicError(ConfigError):
    """The topic does not exist on the cluster."""


_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now_ms: int | None = None) -> int:
    """``--since``: a time as ms since the epoch. ISO 8601 (``2025-01-02T10:00:00Z``,
    ``2025-01-02 10:00:00+02:00``; without a zone, UTC), ms since the epoch, or a
    duration before now (``90s``, ``15m``, ``2h``, ``1d``)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    text = text.strip()
    if (match := _RELATIVE.match(text)) is not None:
        return now_ms - int(float(match.group(1)) * _SECONDS[match.group(2)] * 1000)
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since: {text!r} is not a time (2025-01-02T10:00:00Z, ms since the epoch, or a duration before now: 15m, 2h, 1d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


class _Printer:
    """Writes events as NDJSON lines or as a table."""

    def __init__(self, out: BinaryIO, table: bool) -> None:
        self.out = out
        self.table = table
        self.width = shutil.get_terminal_size((120, 24)).columns
        self.header = False

    def print(self, event: Event, where: str) -> None:
        if not self.table:
            from cdcsink.decode.render import event_line

            self.out.write(event_line(event) + b"\n")
            return
        if not self.header:
            self.out.write(_fit(f"{'PARTITION@OFFSET':<18} {'COMMIT_TS':>19}  {'EVENT':<15} {'TABLE':<24} DATA", self.width))
            self.header = True
        self.out.write(_fit(_table_line(event, where), self.width))

    def flush(self) -> None:
        self.out.flush()


def _fit(text: str, width: int) -> bytes:
    if len(text) > width:
        text = text[: max(width - 1, 10)] + "…"
    return (text + "\n").encode("utf-8", "backslashreplace")


def _show(value: Any) -> str:
    if type(value) is bytes:
        return "0x" + value.hex() if len(value) <= 16 else f"0x{value[:16].hex()}…({len(value)} bytes)"
    return "NULL" if value is None else str(value)


def _table_line(event: Event, where: str) -> str:
    if type(event) is RowEvent:
        name = f"{event.schema}.{event.table}"
        if event.op == "update" and event.before is not None and event.after is not None:
            keys = set(event.table_info.pk)
            parts = [f"{k}={_show(v)}" for k, v in event.after.items() if k in keys]
            parts += [f"{k}: {_show(event.before.get(k))} → {_show(v)}" for k, v in event.after.items()
                      if k not in keys and event.before.get(k) != v]
        else:
            image = event.after if event.after is not None else event.before
            parts = [f"{k}={_show(v)}" for k, v in (image or {}).items()]
        return f"{where:<18} {event.commit_ts:>19}  {'row ' + event.op:<15} {name:<24} {', '.join(parts)}"
    if type(event) is DDLEvent:
        name = f"{event.schema}.{event.table}" if event.table else event.schema
        return f"{where:<18} {event.commit_ts:>19}  {'ddl':<15} {name:<24} {' '.join(event.query.split())}"
    return f"{where:<18} {event.commit_ts:>19}  {'resolved':<15}"


class Consumer:
    """One ``cdcsink consume`` run."""

    def __init__(self, options: ConsumeOptions, out: BinaryIO, err: TextIO) -> None:
        from cdcsink.decode.messages import MessageReader

        self.options = options
        self.err = err
        self.reader = MessageReader(options.protocol, options.compression)
        self.printer = _Printer(out, options.output == "table")
        self.printed = 0
        self.skipped = 0

    async def run(self) -> int:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.errors import KafkaConnectionError
        from aiokafka.structs import TopicPartition

        from cdcsink.kafka.aiokafka_client import unreachable
        from cdcsink.source.kafka.merge import PartitionMerger

        options = self.options
        consumer = AIOKafkaConsumer(
            bootstrap_servers=options.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
            client_id="cdcsink-consume", **options.security,
        )
        try:
            await consumer.start()
        except KafkaConnectionError:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise await unreachable(options.bootstrap, "kafka") from None
        try:
            tps = await self._assign(consumer, TopicPartition)
            ends = await consumer.end_offsets(tps)
            paused: set[Any] = set()

            def pause(key: tuple[str, int]) -> None:
                tp = TopicPartition(*key)
                paused.add(tp)
                consumer.pause(tp)

            def resume(key: tuple[str, int]) -> None:
                tp = TopicPartition(*key)
                paused.discard(tp)
                consumer.resume(tp)

            merger = PartitionMerger(pause=pause, resume=resume)
            for tp in tps:
                merger.assign({(tp.topic, tp.partition)}, 1)
            ordering = {tp: SimpleNamespace(last_resolved_ts=0) for tp in tps}
            where: dict[int, str] = {}
            done = False
            while not done:
                batches = await consumer.getmany(timeout_ms=FETCH_WAIT_MS, max_records=2000)
                for tp, records in batches.items():
                    if not records:
                        continue
                    out = await self._take(consumer, merger, tp, records, ordering[tp], where)
                    done = self._print(out, where)
                    if done:
                        break
                if not done and not options.follow:
                    at_end = {tp for tp in tps if await consumer.position(tp) >= ends[tp]}
                    if all(tp in at_end or tp in paused for tp in tps):
                        # What the merger waits for cannot come from partitions read to their end:
                        # let it go (a partition it held resumes and is read on).
                        out = []
                        merger.flush(out)
                        done = self._print(out, where) or (len(at_end) == len(tps) and not paused)
                self.printer.flush()
        finally:
            await consumer.stop()
        if self.skipped:
            print(f"cdcsink consume: {self.skipped} message(s) that do not decode were skipped", file=self.err)
        return 0

    async def _assign(self, consumer: Any, TopicPartition: Any) -> list[Any]:
        options = self.options
        topics = await consumer.topics()
        if options.topic not in topics:
            raise UnknownTopicError(f"topic {options.topic!r} does not exist on {','.join(options.bootstrap)}")
        available = sorted(consumer.partitions_for_topic(options.topic) or ())
        chosen = available if not options.partitions else options.partitions
        for partition in chosen:
            if partition not in available:
                raise ConfigError(
                    f"--partition {partition}: topic {options.topic!r} has partitions {', '.join(map(str, available))}"
                )
        tps = [TopicPartition(options.topic, p) for p in chosen]
        consumer.assign(tps)
        firsts = await consumer.beginning_offsets(tps)
        lasts = await consumer.end_offsets(tps)
        if options.start == "end":
            for tp in tps:
                consumer.seek(tp, lasts[tp])
        elif options.start == "offset":
            for tp in tps:
                consumer.seek(tp, min(max(options.start_at, firsts[tp]), lasts[tp]))
        elif options.start == "since":
            found = await consumer.offsets_for_times({tp: options.start_at for tp in tps})
            for tp in tps:
                at = found.get(tp)
                # None (or, from some brokers, timestamp -1): no record at or after that time.
                late = at is None or at.timestamp < 0 or at.offset < 0
                consumer.seek(tp, lasts[tp] if late else at.offset)
        else:
            for tp in tps:
                consumer.seek(tp, firsts[tp])
        return tps

    async def _take(self, consumer: Any, merger: Any, tp: Any, records: list[Any], ordering: Any,
                    where: dict[int, str]) -> list[Any]:
        """Decode a partition's records and put them through the merger (the events to print)."""
        reader = self.reader
        values = [record.value for record in records]
        if reader.needs_context:
            missing = reader.missing_schemas(values)
            if missing:
                await self._read_back(tp, records[0].offset, missing)
        chunk = SimpleNamespace(
            origin=f"{tp.topic}[{tp.partition}]", input=(tp.topic, tp.partition), lines=values, keys=[r.key for r in records],
            offsets=[r.offset for r in records],
        )
        events: list[Any] = []
        start = 0
        while True:
            decoded, invalid = reader.decode_records(ordering, chunk, start)
            events += decoded
            if invalid is None:
                break
            if not self.options.skip_invalid:
                # What came before the bad message is printed, then the run stops on it.
                self._print(merger.feed((tp.topic, tp.partition), events, chunk.offsets[invalid.index or 0]), where)
                self.printer.flush()
                raise invalid
            self.skipped += 1
            print(f"cdcsink consume: skipped {invalid}", file=self.err)
            start = (invalid.index or 0) + 1
        for event in events:
            where[id(event)] = f"{tp.partition}@{event.line}"
        return merger.feed((tp.topic, tp.partition), events, records[-1].offset + 1)  # type: ignore[no-any-return]

    async def _read_back(self, tp: Any, before: int, missing: set[Any]) -> None:
        from aiokafka import AIOKafkaConsumer

        from cdcsink.source.kafka import read_back_table_schemas

        searcher = AIOKafkaConsumer(bootstrap_servers=self.options.bootstrap, enable_auto_commit=False,
                                    client_id="cdcsink-consume-read-back", **self.options.security)
        await searcher.start()
        try:
            await read_back_table_schemas(searcher, self.reader, tp, before, missing)
        finally:
            await searcher.stop()

    def _print(self, events: list[Any], where: dict[int, str]) -> bool:
        """Print ``events``; True once ``--count`` events are printed."""
        limit = self.options.count
        for event in events:
            if limit is not None and self.printed >= limit:
                return True
            position = where.pop(id(event), "")
            if type(event) is ResolvedEvent and not position:
                position = "-"
            self.printer.print(event, position)
            self.printed += 1
        return limit is not None and self.printed >= limit


def run(options: ConsumeOptions, out: BinaryIO | None = None, err: TextIO | None = None) -> int:
    """Run ``cdcsink consume``; raises :class:`CdcsinkError` subclasses for one-line failures."""
    out = out if out is not None else sys.stdout.buffer
    err = err if err is not None else sys.stderr
    try:
        return asyncio.run(Consumer(options, out, err).run())
    except BrokenPipeError:  # the reader went away (| head): not an error
        # Python flushes stdout once more at exit: point it at /dev/null so that says nothing.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


__all__ = ["ConsumeOptions", "Consumer", "UnknownTopicError", "parse_since", "run"]
