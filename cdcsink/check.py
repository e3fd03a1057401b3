"""``cdcsink check``: a dry run of everything a run needs, before it starts.

Validates the config (already done by loading it), checks the checkpoint
store is writable, connects to Kafka, adjusts options and checks/creates the
default topic, then routes and encodes a sample row (the first row of the
input when the source can be read, else a synthetic one).
"""

from __future__ import annotations

import asyncio

from cdcsink.checkpoint.store import open_store
from cdcsink.config import Settings
from cdcsink.decode import Decoder, decode_chunk
from cdcsink.decode.dead_letter import dead_letter_file
from cdcsink.codec.registry import build_encoder
from cdcsink.errors import CdcsinkError
from cdcsink.events import INSERT, RowEvent
from cdcsink.kafka import new_factory
from cdcsink.codec.common.large import ClaimCheckStorage
from cdcsink.pipeline import Clients, kafka_options, prepare
from cdcsink.route.router import Router
from cdcsink.source.config import build_source

SAMPLE_TIMEOUT = 2.0


def synthetic_row() -> RowEvent:
    return RowEvent(
        "cdcsink_check",
        "sample",
        1,
        INSERT,
        ["id"],
        {"id": "bigint", "note": "varchar(64)"},
        None,
        {"id": 1, "note": "cdcsink check"},
    )


async def first_row(settings: Settings) -> RowEvent | None:
    """The first row event of the input, when it can be read quickly."""
    if settings.source.type != "file":
        return None
    source = build_source(settings.source)
    decoder = Decoder()

    async def scan() -> RowEvent | None:
        async for chunk in source.chunks(None):
            events, _ = decode_chunk(decoder, chunk)
            for event in events:
                if type(event) is RowEvent:
                    return event
        return None

    try:
        return await asyncio.wait_for(scan(), SAMPLE_TIMEOUT)
    except (asyncio.TimeoutError, CdcsinkError):
        return None


async def check(settings: Settings) -> list[str]:
    sink = settings.sink
    report = [
        f"config: ok (changefeed {settings.changefeed}, source {settings.source.type}, "
        f"protocol {sink.protocol}, default topic {sink.topic})"
    ]
    if settings.source.type == "kafka":
        line = (
            f"checkpoint store: kafka consumer group {settings.source.group} (its committed offsets; "
            "each input partition resumes there)"
        )
        if "store" in settings.checkpoint.model_fields_set:
            line += f"; checkpoint.store {settings.checkpoint.store} is not needed with a kafka source and is not used"
        report.append(line)
    else:
        store = open_store(settings.checkpoint.store, settings.changefeed)
        store.check_writable()
        stored = store.load()
        report.append(
            f"checkpoint store: {store.description} writable; "
            + (f"resumes from checkpoint_ts {stored.checkpoint_ts}" if stored else "no checkpoint yet (starts from the beginning)")
        )
    if sink.large_message_handle_option == "claim-check" and sink.claim_check_storage_uri:
        storage = ClaimCheckStorage(sink.claim_check_storage_uri)
        storage.check_writable()
        report.append(f"claim-check storage: {storage.directory} writable")
    if settings.source.on_invalid == "dead-letter":
        dead_file = dead_letter_file(settings.source.dead_letter)
        if dead_file is not None:
            dead_file.check_writable()
            report.append(f"dead-letter: {dead_file.description} writable")
        else:
            report.append(f"dead-letter: topic {settings.source.dead_letter or sink.topic + '-dlq'}")
    factory = new_factory(kafka_options(settings))
    clients = Clients()
    try:
        topics, encoder_options = await prepare(settings, factory, clients)
        report.append(
            f"kafka: connected to {','.join(sink.brokers)}; default topic {sink.topic} has "
            f"{topics.cached(sink.topic)} partitions; effective max-message-bytes {factory.options.max_message_bytes}"
        )
        encoder = build_encoder(encoder_options)
        router = Router(sink.dispatchers, sink.topic)
        row = await first_row(settings) or synthetic_row()
        route = router.route(row.schema, row.table)
        partitions = await topics.partitions(route.topic)
        partition = route.partition(row, partitions)
        messages = encoder.encode_rows([row])
        size = sum(len(value) + len(key or b"") for key, value in messages)
        report.append(
            f"sample: {row.describe()} -> topic {route.topic} partition {partition}/{partitions}, "
            f"{sink.protocol} message of {size} bytes"
        )
    finally:
        await clients.close()
    return report
