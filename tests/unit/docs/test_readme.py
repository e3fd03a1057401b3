import platform
from pathlib import Path

from cdcsink import __version__
from cdcsink.config import Settings
from cdcsink.docs import render_readme
from cdcsink.metrics import METRICS, Metrics

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_tables_match_the_code():
    text = README.read_text()
    assert render_readme(text) == text, "README tables are stale: run python -m cdcsink.docs --write"


def test_every_top_level_setting_is_documented():
    text = README.read_text()
    for name in Settings.model_fields:
        assert f"CDCSINK_{name.upper()}" in text


def test_metric_list_matches_the_registry():
    from prometheus_client import generate_latest

    metrics = Metrics("cf")
    metrics.invalid.labels("cf", "json").inc()
    metrics.send_errors.labels("cf", "t", "KafkaError").inc()
    metrics.received.labels("cf", "row").inc()
    metrics.acked.labels("cf", "row").inc()
    metrics.large_messages.labels("cf", "claim-check").inc()
    metrics.sent("t", 1, 1)
    for name in ("cdcsink_checkpoint_ts", "cdcsink_resolved_ts", "cdcsink_checkpoint_lag_seconds",
                 "cdcsink_inflight_messages", "cdcsink_producer_inflight_requests"):
        metrics.observe(name, lambda: 1.0)
    metrics.observe("cdcsink_pipeline_queue_depth", lambda: 1.0, stage="source")

    class Source:  # a kafka source's per-partition state, as the collector reads it
        assigned = {("in", 0)}
        committed = {("in", 0): 7}
        rebalances = 1

        def lag(self, partition):
            return 2.0

    class Merger:
        copies_dropped = 1

    metrics.watch_source(Source(), Merger())

    from cdcsink.kafka.confluent.stats import BrokerStatistics, Statistics

    class Producer:  # the confluent row producer's latest librdkafka statistics
        statistics = Statistics({"b:9092": BrokerStatistics({"0.5": 0.001}, 1, 2, 3)}, queue_messages=4)

    metrics.watch_kafka_client(Producer())
    exposed = {line.split("{")[0].split(" ")[0] for line in generate_latest(metrics.registry).decode().splitlines()
               if line and not line.startswith("#")}
    for name, (kind, _, _) in METRICS.items():
        assert (name + "_count" if kind == "histogram" else name) in exposed, name
    text = generate_latest(metrics.registry).decode()
    from cdcsink import speedups

    build = (f'cdcsink_build_info{{changefeed="cf",extensions="{speedups.status()}",'
             f'python="{platform.python_version()}",version="{__version__}"}} 1.0')
    assert build in text.splitlines()
    for line in exposed:
        base = line.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum").removesuffix("_created")
        assert base in METRICS or base + "_total" in METRICS, line
