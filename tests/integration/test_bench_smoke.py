"""`make bench` must keep working: a tiny run, every figure present and positive,
the first cdcsink run read back and checked for order, the latency run done."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdcsink import speedups

pytestmark = pytest.mark.broker
ROOT = Path(__file__).resolve().parents[2]


def test_bench_runs_and_prints_its_json_line(kafka_bootstrap):
    env = {**os.environ, "CDCSINK_BENCH_BOOTSTRAP": kafka_bootstrap, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "bench.run", "--events", "3000", "--repeat", "1", "--tables", "3", "--latency-seconds", "1",
         "--stage-rows", "2000"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("CPU per row by stage")
    assert any(line.startswith("mode") for line in lines)
    # Both clients' first cdcsink runs are read back and checked.
    assert sum("every row present, per-key order and DDL order hold" in line for line in lines) == 2
    assert any(line.startswith("latency at ") for line in lines)
    figures = json.loads(lines[-1])
    for key in ("sink_eps", "naive_eps", "ceiling_eps", "ratio_naive", "ratio_ceiling", "peak_rss_mb", "open_protocol_eps",
                "confluent_eps", "ceiling_confluent_eps", "ratio_confluent_ceiling", "pure_python_eps",
                "latency_rate", "latency_p50_ms", "latency_p99_ms", "single_event_ms"):
        assert figures[key] > 0, key
    cpu = figures["cpu_per_million_events"]
    assert set(cpu) == {"naive", "ceiling", "ceiling-confluent", "cdcsink-canal-json", "cdcsink-confluent", "cdcsink-open-protocol",
                        "cdcsink-pure-python"}
    # The pure-Python mode and stage column ran without the compiled modules; the rest as built.
    assert figures["extensions"]["cdcsink-pure-python"] == "pure-python"
    assert figures["extensions"]["cdcsink-canal-json"] == speedups.status()
    stages = figures["stages_us_per_row"]
    assert set(stages) == {"compiled", "pure-python"}
    for build in stages.values():
        assert set(build) == {"read", "decode", "partition", "encode canal-json", "encode open-protocol", "batch append", "sink", "pipeline"}
        assert all(value > 0 for value in build.values())
    assert all(cpu[mode]["interpreter"] > 0 for mode in cpu)
    assert abs(figures["ratio_ceiling"] - figures["sink_eps"] / figures["ceiling_eps"]) < 0.01
    assert figures["latency_p50_ms"] <= figures["latency_p99_ms"] <= figures["latency_max_ms"]


def test_bench_kafka_source_modes_run(kafka_bootstrap):
    env = {**os.environ, "CDCSINK_BENCH_BOOTSTRAP": kafka_bootstrap, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "bench.run", "--events", "3000", "--repeat", "1", "--tables", "3", "--no-latency",
         "--modes", "kafka-source-1,kafka-source-2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["kafka_source_1_eps"] > 0 and figures["kafka_source_2_eps"] > 0


def test_bench_postgres_mode_runs(kafka_bootstrap):
    env = {**os.environ, "CDCSINK_BENCH_BOOTSTRAP": kafka_bootstrap, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "bench.run", "--modes", "postgres", "--repeat", "1", "--tables", "3", "--pg-rows", "3000",
         "--no-latency"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[1].startswith("postgres ")
    assert "rows per commit: committed at" in lines[2]
    figures = json.loads(lines[-1])
    for key in ("postgres_eps", "postgres_write_eps", "postgres_write_alone_eps", "postgres_lag_max_bytes",
                "postgres_peak_rss_mb", "postgres_daemon_cpu_us_per_row", "postgres_single_row_ms"):
        assert figures[key] > 0, key
    assert figures["postgres_lag_p50_bytes"] <= figures["postgres_lag_p99_bytes"] <= figures["postgres_lag_max_bytes"]
    assert figures["postgres_final_lag_bytes"] == 0  # the slot catches up once the load ends
