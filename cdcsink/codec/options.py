"""What an encoder needs to know, resolved from the sink config before start."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class EncoderOptions:
    protocol: str = "canal-json"
    #: canal-json: add ``_tidb`` fields and emit TIDB_WATERMARK messages.
    enable_tidb_extension: bool = False
    #: max-message-bytes as TiCDC's encoders apply it: key + value + the 36-byte
    #: record overhead (``codec.common.large.MAX_RECORD_OVERHEAD``) of one message
    #: must fit (the pipeline passes the topic/broker cap less a record batch header).
    max_message_bytes: int = 10 * 1024 * 1024
    #: open-protocol: rows packed into one message at most.
    max_batch_size: int = 16
    #: none | handle-key-only | claim-check (see cdcsink.codec.common.large).
    large_message_handle_option: str = "none"
    #: none | lz4 | snappy | zstd: applied to every row value before the size check.
    large_message_handle_compression: str = "none"
    #: file:// directory for claim-check messages.
    claim_check_storage_uri: str | None = None
    #: An update's old image carries only the columns whose value changed.
    only_output_updated_columns: bool = False
    #: A delete carries only its handle-key columns.
    delete_only_output_handle_key_columns: bool = False
    #: canal-json: ``mysqlType`` carries the full column type (``int(11)``,
    #: ``decimal(10,2)``, ``enum('a','b')``) and, as in TiCDC, an update's ``old``
    #: only the changed columns. Other protocols ignore it, as TiCDC does.
    content_compatible: bool = False
    #: simple: a table's bootstrap (table schema) message is sent again once this
    #: many seconds passed since its last one, or ...
    send_bootstrap_interval_in_sec: int = 120
    #: ... once this many of its rows were sent since its last one.
    send_bootstrap_in_msg_count: int = 10000
    #: simple: bootstrap messages go to every partition of the table's topic (else partition 0).
    send_bootstrap_to_all_partition: bool = True
    #: debezium: leave the Kafka Connect ``schema`` out of keys and values.
    debezium_disable_schema: bool = False
    #: debezium: an update carries its old image in ``before``.
    debezium_output_old_value: bool = True
    #: debezium: the cluster name in ``source.name`` / ``source.cluster_id`` and
    #: the schema names (``<cluster>.<db>.<table>.Value``): the changefeed's name.
    cluster_id: str = "default"
    #: Called with the handling option for each row sent in a reduced form (a metric).
    on_large_message: Callable[[str], None] | None = field(default=None, compare=False)
    #: Wall clock in ms, for canal-json's ``ts`` (build time). Injectable for golden tests.
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000), compare=False)
