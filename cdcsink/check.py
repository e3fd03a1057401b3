"""``cdcsink check``: a dry run of everything a run needs, before it starts.

Validates the config (already done by loading it), checks the input (files
exist and can be read; a kafka source's topics exist), the checkpoint store,
claim-check directory and dead-letter file, and only then connects to Kafka,
adjusts options and checks/creates the default topic (saying so), then routes
and encodes a sample row (the first row of the input when the source can be
read, else a synthetic one) without creating the topic it is routed to.
"""

from __future__ import annotations

import asyncio
import re

from cdcsink.checkpoint.store import open_store
from cdcsink.config import Settings
from cdcsink.decode import Decoder, decode_chunk
from cdcsink.decode.dead_letter import dead_letter_file
from cdcsink.codec.registry import build_encoder
from cdcsink.errors import CdcsinkError, ConfigError
from cdcsink.events import INSERT, RowEvent
from cdcsink.kafka import AdminClient, new_factory
from cdcsink.kafka.options import KafkaOptions
from cdcsink.kafka.topics import DEFAULT_PARTITIONS
from cdcsink.pipeline import Clients, kafka_options, prepare
from cdcsink.preflight import check_input, check_outputs
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


async def check_kafka_source(settings: Settings) -> str:
    """The kafka source's input topics exist (or its pattern matches some) on its cluster."""
    source = settings.source
    options = KafkaOptions(
        brokers=source.bootstrap,
        client_id=f"cdcsink-{settings.changefeed}-check",
        read_timeout=settings.sink.read_timeout,
        write_timeout=settings.sink.write_timeout,
        security=source.security_options("source"),
    )
    admin = await new_factory(options).admin_client()
    try:
        names = set(await admin.topic_names())
    finally:
        await admin.close()
    where = ",".join(source.bootstrap)
    if source.topics:
        missing = [topic for topic in source.topics if topic not in names]
        if missing:
            raise ConfigError(f"source.topics: {', '.join(missing)}: no such topic on {where}")
        return f"kafka source: connected to {where}; input topics {', '.join(source.topics)} exist"
    pattern = re.compile(source.topic_pattern or "")
    matched = sorted(name for name in names if pattern.fullmatch(name))
    if not matched:
        return f"kafka source: connected to {where}; topic-pattern {source.topic_pattern} matches no topic yet"
    return f"kafka source: connected to {where}; topic-pattern {source.topic_pattern} matches {', '.join(matched)}"


async def check(settings: Settings) -> list[str]:
    """Every check, in an order that creates nothing before the config and the
    local files are known good; one line per finding, one per topic created."""
    sink = settings.sink
    report = [
        f"config: ok (changefeed {settings.changefeed}, source {settings.source.type}, "
        f"protocol {sink.protocol}, default topic {sink.topic})"
    ]
    report.append(check_input(settings.source))
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
    report += check_outputs(settings)
    if settings.source.type == "kafka":
        report.append(await check_kafka_source(settings))
    if settings.source.type == "postgres":
        from cdcsink.source.postgres.check import check_postgres_source

        report += await check_postgres_source(settings.source)
    factory = new_factory(kafka_options(settings))
    clients = Clients()
    try:
        topics, encoder_options = await prepare(settings, factory, clients)
        assert clients.admin is not None
        report.append(
            f"kafka: connected to {','.join(sink.brokers)}; default topic {sink.topic} has "
            f"{topics.cached(sink.topic)} partitions; effective max-message-bytes {factory.options.max_message_bytes}"
        )
        report += [
            f"created topic {topic} ({count} partitions, replication factor {sink.replication_factor})"
            for topic, count in topics.created.items()
        ]
        if settings.source.on_invalid == "dead-letter" and dead_letter_file(settings.source.dead_letter) is None:
            report.append(await _dead_letter_topic(settings, clients.admin))
        encoder = build_encoder(encoder_options)
        router = Router(sink.dispatchers, sink.topic)
        row = await first_row(settings) or synthetic_row()
        route = router.route(row.schema, row.table)
        partitions = await clients.admin.partition_count(route.topic)
        note = ""
        if partitions is None:
            # check creates only the default topic; a routed one is created by the run that needs it.
            if not sink.auto_create_topic:
                raise ConfigError(
                    f"sink.dispatchers: the sample row goes to topic {route.topic!r}, which does not exist, "
                    "and auto-create-topic is false"
                )
            partitions = sink.partition_num or DEFAULT_PARTITIONS
            note = f" (topic {route.topic} does not exist yet; a run creates it with {partitions} partitions)"
        partition = route.partition(row, partitions)
        messages = encoder.encode_rows([row])
        size = sum(len(value) + len(key or b"") for key, value in messages)
        report.append(
            f"sample: {row.describe()} -> topic {route.topic} partition {partition}/{partitions}, "
            f"{sink.protocol} message of {size} bytes{note}"
        )
    finally:
        await clients.close()
    return report


async def _dead_letter_topic(settings: Settings, admin: AdminClient) -> str:
    topic = settings.source.dead_letter or f"{settings.sink.topic}-dlq"
    count = await admin.partition_count(topic)
    if count is not None:
        return f"dead-letter: topic {topic} exists ({count} partitions)"
    if not settings.sink.auto_create_topic:
        raise ConfigError(f"source.dead-letter: topic {topic!r} does not exist and auto-create-topic is false")
    return f"dead-letter: topic {topic} does not exist yet (created at the first invalid line)"
