"""Prometheus metrics.

Counters move once per batch, chunk or checkpoint, never once per event, and
gauges that mirror pipeline state (queue depth, in-flight rows, checkpoint)
are read at scrape time, so metrics cost the hot path nothing. Label sets are
bounded: ``changefeed``, ``kind``, ``topic``, ``stage``, ``error`` (an
exception class name) and ``reason`` (a fixed set of codes); never key values.
"""

from __future__ import annotations

import platform
import time
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from cdcsink import __version__, speedups
from cdcsink.decode import REASON_CODES
from cdcsink.kafka.errors import KafkaClientError

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384)

#: The label values known up front; each gets its series (at 0) when the daemon
#: starts, so ``rate()`` and ``increase()`` see the first event, and an absent
#: series means a missing target, never a quiet one.
EVENT_KINDS = ("row", "ddl", "resolved")
LARGE_MESSAGE_HANDLINGS = ("handle-key-only", "claim-check")
QUEUE_STAGES = ("source", "buffer")

#: Every metric name with its type and labels (besides ``changefeed``), for docs and tests.
METRICS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "cdcsink_events_received_total": ("counter", ("kind",), "Events read and decoded from the source, by kind (row, ddl, resolved)."),
    "cdcsink_events_acked_total": ("counter", ("kind",), "Events acknowledged by Kafka (row, ddl) or covered by the checkpoint (resolved)."),
    "cdcsink_invalid_events_total": (
        "counter", ("reason",),
        f"Input lines rejected as invalid, by reason code ({', '.join(REASON_CODES)}).",
    ),
    "cdcsink_messages_sent_total": (
        "counter", ("topic",),
        "Kafka messages acknowledged (rows, DDL, watermarks), by topic (the default topic from the start, others once"
        " routed to).",
    ),
    "cdcsink_bytes_sent_total": ("counter", ("topic",), "Bytes of message values acknowledged, by topic."),
    "cdcsink_send_errors_total": (
        "counter", ("topic", "error"),
        "Failed deliveries, by topic and error class (confluent: librdkafka's error code name, e.g. _MSG_TIMED_OUT; a"
        " pair's series appears with its first error).",
    ),
    "cdcsink_send_latency_seconds": ("histogram", (), "Time from handing a row batch to the producer to its ack."),
    "cdcsink_batch_size": ("histogram", (), "Messages per row batch handed to the producer."),
    "cdcsink_read_to_ack_seconds": ("histogram", (), "Time from reading a batch's oldest row from the source to the batch's ack (the batch's worst row latency)."),
    "cdcsink_checkpoint_ts": ("gauge", (), "The acknowledged checkpoint (resolved ts) of this run."),
    "cdcsink_resolved_ts": ("gauge", (), "The latest resolved ts read from the input."),
    "cdcsink_checkpoint_lag_seconds": (
        "gauge", (),
        "How far the checkpoint is behind: now minus its resolved event's commit_time_ms, or, when that event has none,"
        " minus when it was read from the source (so it grows while the checkpoint stalls, and while the input sends no"
        " resolved events); counted from the daemon's start until its first checkpoint.",
    ),
    "cdcsink_checkpoint_writes_total": ("counter", (), "Checkpoint store writes."),
    "cdcsink_pipeline_queue_depth": ("gauge", ("stage",), "Items waiting between stages: source (chunks read, not processed), buffer (rows routed, not handed to the producer)."),
    "cdcsink_inflight_messages": ("gauge", (), "Rows routed but not yet acknowledged."),
    "cdcsink_restarts_total": ("counter", (), "Pipeline restarts from the checkpoint after a retriable failure."),
    "cdcsink_ddl_duration_seconds": ("histogram", (), "DDL barrier plus send time."),
    "cdcsink_large_messages_total": ("counter", ("handling",), "Rows over max-message-bytes sent reduced, by large-message-handle-option (handle-key-only, claim-check)."),
    "cdcsink_producer_inflight_requests": ("gauge", (), "Produce requests the Kafka client has in flight (confluent: row batches handed to librdkafka, not yet acknowledged)."),
    "cdcsink_kafka_broker_rtt_seconds": (
        "gauge", ("broker", "quantile"),
        "kafka-client=confluent: request round-trip time to each broker (host:port) over librdkafka's last statistics"
        " window, at quantiles 0.5, 0.95 and 0.99 (absent for a window without requests).",
    ),
    "cdcsink_kafka_broker_outbuf_requests": ("gauge", ("broker",), "confluent: requests waiting to be sent to each broker."),
    "cdcsink_kafka_broker_waitresp_requests": ("gauge", ("broker",), "confluent: requests sent to each broker, waiting for its response."),
    "cdcsink_kafka_retries_total": ("counter", (), "confluent: requests librdkafka sent again (retries), over the daemon's life."),
    "cdcsink_kafka_queue_messages": ("gauge", (), "confluent: messages in librdkafka's queues (waiting to be sent or in flight)."),
    "cdcsink_source_lag": ("gauge", ("topic", "partition"), "kafka source: records of an assigned input partition after the committed offset (log end as last fetched)."),
    "cdcsink_source_committed_offset": ("gauge", ("topic", "partition"), "kafka source: the offset committed for an assigned input partition (everything before it acknowledged)."),
    "cdcsink_source_rebalances_total": ("counter", (), "kafka source: consumer-group rebalances that took partitions from this instance."),
    "cdcsink_source_lag_bytes": ("gauge", (), "postgres source: bytes of WAL between the server's current position and the slot's confirmed position (what the slot keeps from being recycled)."),
    "cdcsink_source_ddl_copies_dropped_total": ("counter", (), "kafka source: DDL copies from other input partitions dropped as already emitted."),
    "cdcsink_build_info": (
        "gauge", ("version", "python", "extensions"),
        "Always 1; the labels name the running cdcsink version, Python version and hot path"
        " (extensions: compiled, partial or pure-python, as cdcsink --version says).",
    ),
}


class _SourceCollector:
    """Reads the current Kafka source's per-partition state at scrape time
    (the partition set changes with every rebalance)."""

    def __init__(self, changefeed: str) -> None:
        self.changefeed = changefeed
        self.source: Any = None
        self.merger: Any = None
        self.rebalances = 0
        self.copies_dropped = 0

    def collect(self):
        cf = self.changefeed
        lag = GaugeMetricFamily("cdcsink_source_lag", METRICS["cdcsink_source_lag"][2], labels=["changefeed", "topic", "partition"])
        committed = GaugeMetricFamily(
            "cdcsink_source_committed_offset", METRICS["cdcsink_source_committed_offset"][2],
            labels=["changefeed", "topic", "partition"],
        )
        source, merger = self.source, self.merger
        if source is not None:
            for topic, partition in sorted(source.assigned):
                labels = [cf, topic, str(partition)]
                lag.add_metric(labels, source.lag((topic, partition)))
                if (topic, partition) in source.committed:
                    committed.add_metric(labels, source.committed[(topic, partition)])
        rebalances = self.rebalances + (source.rebalances if source is not None else 0)
        copies = self.copies_dropped + (merger.copies_dropped if merger is not None else 0)
        yield lag
        yield committed
        for name, value in (("cdcsink_source_rebalances", rebalances), ("cdcsink_source_ddl_copies_dropped", copies)):
            family = CounterMetricFamily(name, METRICS[name + "_total"][2], labels=["changefeed"])
            family.add_metric([cf], value)
            yield family

    def describe(self):
        return []

    def watch(self, source: Any, merger: Any) -> None:
        """Follow a new run's source; the counts of the previous run carry over."""
        if self.source is not None:
            self.rebalances += self.source.rebalances
        if self.merger is not None:
            self.copies_dropped += self.merger.copies_dropped
        self.source, self.merger = source, merger


class _ClientCollector:
    """Exports the row producer's client statistics at scrape time (librdkafka's,
    with kafka-client=confluent; a client without them exports none of these).
    Retries carry over the producers of earlier runs."""

    def __init__(self, changefeed: str) -> None:
        self.changefeed = changefeed
        self.producer: Any = None
        self.earlier_retries = 0

    def watch(self, producer: Any) -> None:
        previous = getattr(self.producer, "statistics", None)
        if previous is not None:
            self.earlier_retries += previous.retries
        self.producer = producer if hasattr(producer, "statistics") else None

    def collect(self):
        if self.producer is None:
            return
        cf = self.changefeed
        stats = self.producer.statistics
        rtt = GaugeMetricFamily("cdcsink_kafka_broker_rtt_seconds", METRICS["cdcsink_kafka_broker_rtt_seconds"][2], labels=["changefeed", "broker", "quantile"])
        per_broker = {
            name: GaugeMetricFamily(name, METRICS[name][2], labels=["changefeed", "broker"])
            for name in ("cdcsink_kafka_broker_outbuf_requests", "cdcsink_kafka_broker_waitresp_requests")
        }
        retries = CounterMetricFamily("cdcsink_kafka_retries", METRICS["cdcsink_kafka_retries_total"][2], labels=["changefeed"])
        queue = GaugeMetricFamily("cdcsink_kafka_queue_messages", METRICS["cdcsink_kafka_queue_messages"][2], labels=["changefeed"])
        if stats is not None:
            for broker, b in sorted(stats.brokers.items()):
                for quantile, seconds in b.rtt.items():
                    rtt.add_metric([cf, broker, quantile], seconds)
                per_broker["cdcsink_kafka_broker_outbuf_requests"].add_metric([cf, broker], b.outbuf_requests)
                per_broker["cdcsink_kafka_broker_waitresp_requests"].add_metric([cf, broker], b.waitresp_requests)
        retries.add_metric([cf], self.earlier_retries + (stats.retries if stats is not None else 0))
        queue.add_metric([cf], stats.queue_messages if stats is not None else 0)
        yield rtt
        yield from per_broker.values()
        yield retries
        yield queue

    def describe(self):
        return []


class Metrics:
    """The metrics of one daemon process, in their own registry.

    One instance outlives the pipeline's restarts, so counters and the
    checkpoint lag carry on across them.
    """

    def __init__(self, changefeed: str = "default", registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.changefeed = changefeed
        r, cf = self.registry, ("changefeed",)

        def doc(name: str) -> str:
            return METRICS[name][2]

        self.received = Counter("cdcsink_events_received", doc("cdcsink_events_received_total"), cf + ("kind",), registry=r)
        self.acked = Counter("cdcsink_events_acked", doc("cdcsink_events_acked_total"), cf + ("kind",), registry=r)
        self.invalid = Counter("cdcsink_invalid_events", doc("cdcsink_invalid_events_total"), cf + ("reason",), registry=r)
        self.messages = Counter("cdcsink_messages_sent", doc("cdcsink_messages_sent_total"), cf + ("topic",), registry=r)
        self.bytes = Counter("cdcsink_bytes_sent", doc("cdcsink_bytes_sent_total"), cf + ("topic",), registry=r)
        self.send_errors = Counter("cdcsink_send_errors", doc("cdcsink_send_errors_total"), cf + ("topic", "error"), registry=r)
        self.send_latency = Histogram(
            "cdcsink_send_latency_seconds", doc("cdcsink_send_latency_seconds"), cf, buckets=LATENCY_BUCKETS, registry=r
        ).labels(changefeed)
        self.read_to_ack = Histogram(
            "cdcsink_read_to_ack_seconds", doc("cdcsink_read_to_ack_seconds"), cf, buckets=LATENCY_BUCKETS, registry=r
        ).labels(changefeed)
        self.batch_size = Histogram(
            "cdcsink_batch_size", doc("cdcsink_batch_size"), cf, buckets=BATCH_BUCKETS, registry=r
        ).labels(changefeed)
        self.checkpoint_writes = Counter(
            "cdcsink_checkpoint_writes", doc("cdcsink_checkpoint_writes_total"), cf, registry=r
        ).labels(changefeed)
        self.large_messages = Counter("cdcsink_large_messages", doc("cdcsink_large_messages_total"), cf + ("handling",), registry=r)
        self.restarts = Counter("cdcsink_restarts", doc("cdcsink_restarts_total"), cf, registry=r).labels(changefeed)
        self.ddl_duration = Histogram(
            "cdcsink_ddl_duration_seconds", doc("cdcsink_ddl_duration_seconds"), cf, buckets=LATENCY_BUCKETS, registry=r
        ).labels(changefeed)
        self._gauges: dict[str, Gauge] = {}
        for name in ("cdcsink_checkpoint_ts", "cdcsink_resolved_ts", "cdcsink_checkpoint_lag_seconds",
                     "cdcsink_inflight_messages", "cdcsink_producer_inflight_requests", "cdcsink_source_lag_bytes"):
            self._gauges[name] = Gauge(name, doc(name), cf, registry=r)
        self._gauges["cdcsink_pipeline_queue_depth"] = Gauge(
            "cdcsink_pipeline_queue_depth", doc("cdcsink_pipeline_queue_depth"), cf + ("stage",), registry=r
        )
        # Every series exists from the start (at 0) rather than from its first change.
        for name, gauge in self._gauges.items():
            if name == "cdcsink_pipeline_queue_depth":
                for stage in QUEUE_STAGES:
                    gauge.labels(changefeed, stage)
            else:
                gauge.labels(changefeed)
        for kind in EVENT_KINDS:
            self.received.labels(changefeed, kind)
        for reason in REASON_CODES:
            self.invalid.labels(changefeed, reason)
        for handling in LARGE_MESSAGE_HANDLINGS:
            self.large_messages.labels(changefeed, handling)
        #: Wall-clock time the checkpoint stands for (see :meth:`checkpoint_written`).
        self.checkpoint_time = time.time()
        self._gauges["cdcsink_checkpoint_lag_seconds"].labels(changefeed).set_function(self.checkpoint_lag_seconds)
        self._topic_children: dict[str, tuple[Counter, Counter]] = {}
        self.row_acked = self.acked.labels(changefeed, "row")
        self.ddl_acked = self.acked.labels(changefeed, "ddl")
        self.resolved_acked = self.acked.labels(changefeed, "resolved")
        build_labels = METRICS["cdcsink_build_info"][1]
        Gauge("cdcsink_build_info", doc("cdcsink_build_info"), cf + build_labels, registry=r).labels(
            changefeed, __version__, platform.python_version(), speedups.status()
        ).set(1)
        self._source = _SourceCollector(changefeed)
        r.register(self._source)  # type: ignore[arg-type]
        self._client = _ClientCollector(changefeed)
        r.register(self._client)  # type: ignore[arg-type]

    def watch_source(self, source: Any, merger: Any) -> None:
        """Export a Kafka source's per-partition lag, committed offsets and rebalances."""
        self._source.watch(source, merger)

    def watch_kafka_client(self, producer: Any) -> None:
        """Export the statistics of a new run's row producer (when its client has them)."""
        self._client.watch(producer)

    def observe(self, name: str, read: Callable[[], float], **labels: str) -> None:
        """Make gauge ``name`` read ``read()`` at scrape time."""
        self._gauges[name].labels(changefeed=self.changefeed, **labels).set_function(read)

    def checkpoint_written(self, commit_time_ms: int | None, read_at: float) -> None:
        """A checkpoint was stored; its resolved event had ``commit_time_ms`` (None:
        not given) and was read at ``read_at`` (monotonic clock; 0: no resolved event
        read in this run, so the lag keeps counting from the previous reference)."""
        if commit_time_ms is not None:
            self.checkpoint_time = commit_time_ms / 1000
        elif read_at:
            self.checkpoint_time = time.time() - (time.monotonic() - read_at)

    def checkpoint_lag_seconds(self) -> float:
        return max(0.0, time.time() - self.checkpoint_time)

    def topic_known(self, topic: str) -> tuple[Counter, Counter]:
        """Give ``topic`` its series (at 0): called when a topic is known or created."""
        children = self._topic_children.get(topic)
        if children is None:
            children = self._topic_children[topic] = (
                self.messages.labels(self.changefeed, topic),
                self.bytes.labels(self.changefeed, topic),
            )
        return children

    def sent(self, topic: str, messages: int, nbytes: int) -> None:
        children = self._topic_children.get(topic) or self.topic_known(topic)
        children[0].inc(messages)
        children[1].inc(nbytes)

    def received_events(self, rows: int, ddls: int, resolved: int) -> None:
        cf = self.changefeed
        if rows:
            self.received.labels(cf, "row").inc(rows)
        if ddls:
            self.received.labels(cf, "ddl").inc(ddls)
        if resolved:
            self.received.labels(cf, "resolved").inc(resolved)

    def send_error(self, topic: str, error: BaseException) -> None:
        """Count a failed delivery by its error class; a translated client error by
        the library's own code for it (``_MSG_TIMED_OUT``, a Kafka error name)."""
        cause = getattr(error, "cause", None) or error
        name = cause.name if isinstance(cause, KafkaClientError) else type(cause).__name__
        self.send_errors.labels(self.changefeed, topic, name).inc()
