"""``make bench``: naive, ceiling and cdcsink (canal-json, open-protocol) side by
side on the same input and topic layout, then a latency run at a fixed rate.

- naive: one ``await producer.send()`` per pre-encoded message (futures gathered in windows),
- ceiling: per-partition ``create_batch``/``send_batch`` of the same pre-encoded messages,
- ceiling-confluent: librdkafka's ``produce()`` of the same messages, with cdcsink's
  row-producer settings (idempotent, acks=all), callbacks served by a poll thread,
- cdcsink: the daemon's pipeline, file -> route -> encode -> Kafka -> acks -> final checkpoint;
  cdcsink-confluent is the same with ``kafka-client=confluent``.

Each run also reports its CPU time split by thread: the interpreter's (the
event loop), the poll threads', librdkafka's own threads', and the rest.

Every run is a fresh process (peak RSS is that run's) against a fresh dev
broker (or ``CDCSINK_BENCH_BOOTSTRAP``); modes alternate within each
repetition so a slow patch of a shared machine hits them alike, and each
figure is the median of ``--repeat`` runs. All modes use uvloop, as the daemon does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

TABLES_DEFAULT = 20
PARTITIONS = 6
MODES = ("naive", "ceiling", "ceiling-confluent", "cdcsink-canal-json", "cdcsink-confluent", "cdcsink-open-protocol",
         "cdcsink-pure-python")
#: The cdcsink modes: (protocol, kafka-client).
SINK_MODES = {
    "cdcsink-canal-json": ("canal-json", "aiokafka"),
    "cdcsink-open-protocol": ("open-protocol", "aiokafka"),
    "cdcsink-confluent": ("canal-json", "confluent"),
    "cdcsink-pure-python": ("canal-json", "aiokafka"),
}
#: Modes run with the compiled hot path turned off (``CDCSINK_NO_EXTENSIONS=1``).
PURE_MODES = frozenset({"cdcsink-pure-python"})
#: CPU time per thread kind, in the order the table prints them.
CPU_KINDS = ("interpreter", "poll", "librdkafka", "other")
#: Opt-in (``--modes``): the kafka source, one daemon process and two in one consumer group.
KAFKA_SOURCE_MODES = ("kafka-source-1", "kafka-source-2")
#: Opt-in: a throw-away PostgreSQL streamed by the daemon's postgres source (bench/postgres.py).
POSTGRES_MODE = "postgres"
INPUT_PARTITIONS = 6
#: Latency run: load offered before the measured part (every table's topic created).
WARM_UP_SECONDS = 2.0
_RECORD = struct.Struct(">HHI")  # table index, partition, value length


def _settings(bootstrap: str, path: str, topic: str, protocol: str, checkpoint: str, *, follow: bool = False, client: str = "aiokafka"):
    from cdcsink.config import Settings

    return Settings(
        changefeed="bench",
        source={"type": "file", "path": path, "follow": follow},
        sink={
            "uri": f"kafka://{bootstrap}/{topic}?protocol={protocol}&partition-num={PARTITIONS}&enable-tidb-extension=true"
                   f"&kafka-client={client}",
            "dispatchers": [{"matcher": ["*.*"], "topic": topic + "_{table}", "partition": "index-value"}],
        },
        checkpoint={"store": f"file://{checkpoint}", "interval": "1s"},
        http={"enabled": False},
    )


def _pre_encode(events: str, out: str) -> None:
    """The input routed and encoded exactly as cdcsink does (canal-json), written once
    for the naive and ceiling modes: (table index, partition, value) records."""
    from cdcsink.decode import Decoder
    from cdcsink.codec.canal_json.encoder import CanalJsonEncoder
    from cdcsink.codec.options import EncoderOptions
    from cdcsink.events import RowEvent
    from cdcsink.route.partition import build_partitioner

    encoder = CanalJsonEncoder(EncoderOptions("canal-json", True))
    decoder = Decoder()
    partitioners = {}
    with open(events, "rb") as f, open(out, "wb") as w:
        for n, line in enumerate(f, 1):
            event = decoder.decode(line, events, n)
            if type(event) is RowEvent:
                part = partitioners.get(event.table)
                if part is None:
                    part = partitioners[event.table] = build_partitioner("index-value", event.schema, event.table)
                _, value = encoder.encode_row(event)
                w.write(_RECORD.pack(int(event.table[1:]), part(event, PARTITIONS), len(value)) + value)


def _read_encoded(path: str, topic: str) -> list[tuple[str, int, bytes]]:
    data = Path(path).read_bytes()
    out, pos = [], 0
    while pos < len(data):
        table, partition, size = _RECORD.unpack_from(data, pos)
        pos += _RECORD.size
        out.append((f"{topic}_t{table}", partition, data[pos : pos + size]))
        pos += size
    return out


async def _create_topics(bootstrap: str, topics: set[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in sorted(topics)])
    finally:
        await admin.close()


async def _client_mode(mode: str, bootstrap: str, encoded: str) -> dict:
    from aiokafka import AIOKafkaProducer

    topic = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
    messages = _read_encoded(encoded, topic)
    await _create_topics(bootstrap, {t for t, _, _ in messages})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0, enable_idempotence=False,
                                max_batch_size=1 << 20, max_request_size=2 << 20)
    await producer.start()
    latencies: list[float] = []
    try:
        started = time.perf_counter()
        if mode == "naive":
            window = []
            for t, p, value in messages:
                window.append(await producer.send(t, value, partition=p))
                if len(window) >= 10_000:
                    await asyncio.gather(*window)
                    window = []
            await asyncio.gather(*window)
        else:
            batches: dict[tuple[str, int], object] = {}
            pending = []

            async def send(key, batch):
                sent_at = time.perf_counter()
                fut = await producer.send_batch(batch, key[0], partition=key[1])
                fut.add_done_callback(lambda _f: latencies.append(time.perf_counter() - sent_at))
                pending.append(fut)

            for t, p, value in messages:
                batch = batches.get((t, p))
                if batch is None:
                    batch = batches[(t, p)] = producer.create_batch()
                if batch.append(key=None, value=value, timestamp=None) is None:
                    await send((t, p), batch)
                    batch = batches[(t, p)] = producer.create_batch()
                    batch.append(key=None, value=value, timestamp=None)
            for key, batch in batches.items():
                await send(key, batch)
            await asyncio.gather(*pending)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"events": len(messages), "seconds": elapsed, "bytes": sum(len(v) for _, _, v in messages), "latencies": latencies}


async def _confluent_ceiling(bootstrap: str, encoded: str) -> dict:
    """librdkafka at full speed on the pre-encoded messages: one ``produce()`` each,
    with the row producer's settings; a delivery callback on every 1,000th message
    of a partition (send-to-ack latency) and on each partition's last."""
    import threading

    from confluent_kafka import Producer

    from cdcsink.kafka.confluent.config import LibrdkafkaLogger, librdkafka_config
    from cdcsink.kafka.options import KafkaOptions

    topic = f"bench-ceiling-confluent-{uuid.uuid4().hex[:6]}"
    messages = _read_encoded(encoded, topic)
    await _create_topics(bootstrap, {t for t, _, _ in messages})
    conf = librdkafka_config(KafkaOptions(brokers=[bootstrap], client="confluent", client_id="bench"), "rows")
    conf.update({"logger": LibrdkafkaLogger(), "statistics.interval.ms": 0})
    producer = Producer(conf)
    latencies: list[float] = []
    last: dict[tuple[str, int], int] = {}
    for i, (t, p, _) in enumerate(messages):
        last[(t, p)] = i
    remaining = [len(last)]
    done = threading.Event()
    stop = False

    def poll() -> None:
        while not stop:
            producer.poll(0.2)

    poller = threading.Thread(target=poll, name="cdcsink-rows-poll", daemon=True)
    poller.start()
    counts: dict[tuple[str, int], int] = {}
    started = time.perf_counter()
    produce = producer.produce
    for i, (t, p, value) in enumerate(messages):
        n = counts[(t, p)] = counts.get((t, p), 0) + 1
        while True:
            try:
                if n % 1000 == 0 or last[(t, p)] == i:
                    sent_at = time.perf_counter()

                    def report(error, message, sent_at=sent_at, final=last[(t, p)] == i):
                        latencies.append(time.perf_counter() - sent_at)
                        if final:
                            remaining[0] -= 1
                            if not remaining[0]:
                                done.set()

                    produce(t, value, None, p, on_delivery=report)
                else:
                    produce(t, value, None, p)
                break
            except BufferError:
                await asyncio.sleep(0.005)
    await asyncio.to_thread(done.wait, 600)
    elapsed = time.perf_counter() - started
    stop = True
    poller.join()
    producer.flush(10)
    return {"events": len(messages), "seconds": elapsed, "bytes": sum(len(v) for _, _, v in messages), "latencies": latencies}


class CpuByThread:
    """CPU time of this process's threads, read from /proc every 0.2 s (a thread that
    ends keeps its last reading), split into the interpreter's main thread, the
    poll threads (named ``*-poll``), librdkafka's threads (``rdk:*``) and the rest."""

    def __init__(self) -> None:
        import threading

        self.seconds: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-cpu", daemon=True)
        self._ticks = os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> "CpuByThread":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def _sample(self) -> None:
        import threading

        poll_ids = {t.native_id for t in threading.enumerate() if t.name.endswith("-poll")}
        own = self._thread.native_id  # the sampler itself
        for task in Path("/proc/self/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            tid = int(task.name)
            if tid == own:
                continue
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            used = (int(fields[11]) + int(fields[12])) / self._ticks  # utime, stime
            kind = ("interpreter" if tid == os.getpid() else "poll" if tid in poll_ids
                    else "librdkafka" if comm.startswith("rdk:") else "other")
            previous = self.seconds.get(tid)
            if previous is None or previous[0] == "other" or used >= previous[1]:
                self.seconds[tid] = (kind if previous is None or previous[0] == "other" else previous[0], used)

    def split(self) -> dict[str, float]:
        out = dict.fromkeys(CPU_KINDS, 0.0)
        for kind, used in self.seconds.values():
            out[kind] += used
        return {k: round(v, 2) for k, v in out.items()}


class _Recorder:
    """Stands in for the read-to-ack histogram: keeps every observation."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.changed = asyncio.Event()

    def observe(self, value: float) -> None:
        self.values.append(value)
        self.changed.set()


def _pipeline(bootstrap: str, path: str, protocol: str, tmp: str, *, follow: bool = False, client: str = "aiokafka"):
    from cdcsink.metrics import Metrics
    from cdcsink.pipeline import Pipeline

    metrics = Metrics("bench")
    recorder = metrics.read_to_ack = _Recorder()  # type: ignore[assignment]
    topic = f"bench-sink-{uuid.uuid4().hex[:6]}"
    settings = _settings(bootstrap, path, topic, protocol, f"{tmp}/cp.json", follow=follow, client=client)
    pipeline = Pipeline(settings, metrics=metrics)
    return pipeline, recorder, topic


def _quiet() -> None:
    from cdcsink.daemon import tune_gc
    from cdcsink.logs import configure_logging

    configure_logging("console", "warning")
    tune_gc()


async def _sink_mode(protocol: str, client: str, bootstrap: str, path: str, verify: bool) -> dict:
    _quiet()
    with tempfile.TemporaryDirectory() as tmp:
        pipeline, recorder, topic = _pipeline(bootstrap, path, protocol, tmp, client=client)
        started = time.perf_counter()
        result = await pipeline.run()
        elapsed = time.perf_counter() - started
    out = {"events": result.rows, "seconds": elapsed, "bytes": sum(pipeline.sink.stats.bytes.values()),
           "latencies": recorder.values, "peak_rss_mb": _peak_rss_mb()}  # before reading back
    if verify:
        out["verified"] = await _verify(bootstrap, path, topic, pipeline.sink.stats.messages)
    return out


async def _verify(bootstrap: str, path: str, topic: str, acked: dict[tuple[str, int], int]) -> int:
    """Read everything back and apply the end-to-end checks: every row, per-key order, DDL order."""
    from cdcsink.devtools.readback import read_back
    from tests.workload import Seen, check_delivery, decode_canal, workload_from_lines

    records = await read_back(bootstrap, {tp: n for tp, n in acked.items() if tp[0] != topic}, idle_timeout=5.0)
    seen = Seen({tp: decode_canal(recs) for tp, recs in records.items()})
    check_delivery(workload_from_lines(Path(path).read_bytes().splitlines()), seen)
    return sum(len(recs) for recs in records.values())


async def _latency_mode(bootstrap: str, path: str, rate: float, seconds: float) -> dict:
    """Offer rows at a fixed rate to a following file source; record read-to-ack per batch
    after a warm-up (the first rows of each table create its topic and fetch its metadata,
    a once-per-topic cost), then one lone row after a pause (write to ack, including the
    source's polling)."""
    _quiet()
    lines = Path(path).read_bytes().splitlines(keepends=True)
    lone_index = max(i for i, line in enumerate(lines) if b'"kind":"row"' in line)
    warm = min(lone_index, int(rate * WARM_UP_SECONDS))
    total = min(lone_index, warm + int(rate * seconds))
    rows = sum(1 for line in lines[:total] if b'"kind":"row"' in line)  # counted before the clock runs
    with tempfile.TemporaryDirectory() as tmp:
        live = Path(tmp) / "live.ndjson"
        live.touch()
        pipeline, recorder, _ = _pipeline(bootstrap, str(live), "canal-json", tmp, follow=True)
        run = asyncio.create_task(pipeline.run())
        await asyncio.sleep(1.0)  # connected, topics known
        with live.open("ab", buffering=0) as out:
            start = time.perf_counter()
            written, measured_from = 0, None
            while written < total:
                due = min(total, int((time.perf_counter() - start) * rate))
                if due > written:
                    out.write(b"".join(lines[written:due]))
                    written = due
                if measured_from is None and written >= warm:
                    measured_from = len(recorder.values)
                await asyncio.sleep(0.002)
            offered = written / (time.perf_counter() - start)
            deadline = time.perf_counter() + 30
            while pipeline.sink is None or pipeline.sink.stats.rows_acked < rows:
                if run.done():
                    raise SystemExit(f"latency run stopped: {run.exception()!r}")
                if time.perf_counter() > deadline:
                    raise SystemExit(f"latency run did not drain: {pipeline.sink.stats.rows_acked if pipeline.sink else 0} of {rows} rows acknowledged")
                await asyncio.sleep(0.01)
            loaded = recorder.values[measured_from or 0 :]
            await asyncio.sleep(0.5)
            recorder.changed.clear()
            written_at = time.perf_counter()
            out.write(lines[lone_index])
            await asyncio.wait_for(recorder.changed.wait(), 10)
            single = time.perf_counter() - written_at
        pipeline.request_stop()
        await asyncio.wait_for(run, 30)
    return {"events": total, "seconds": 1, "bytes": 0, "offered_eps": offered, "latencies": loaded, "single_ms": single * 1000}


async def _kafka_source_mode(instances: int, bootstrap: str, path: str) -> dict:
    """The input spread over a 6-partition topic (each key in one partition, resolved
    events and DDLs on all), read by ``instances`` daemon processes in one group.
    Timed from the first committed offset to the last (the group's join delay left out)."""
    import signal

    from aiokafka import AIOKafkaConsumer, TopicPartition

    from tests.kafka_input import produce, spread
    from tests.workload import workload_from_lines

    run_id = uuid.uuid4().hex[:6]
    input_topic, group = f"bench-input-{run_id}", f"bench-{run_id}"
    w = workload_from_lines(Path(path).read_bytes().splitlines())
    data = spread(w, input_topic, INPUT_PARTITIONS)
    del w
    await produce(bootstrap, data)
    total = sum(data.ends.values())
    nbytes = sum(len(v) for values in data.values for v in values)
    del data
    topic = f"bench-sink-{run_id}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[1]), CDCSINK_CHANGEFEED="bench", CDCSINK_SOURCE__TYPE="kafka",
        CDCSINK_SOURCE__BOOTSTRAP=bootstrap, CDCSINK_SOURCE__TOPICS=input_topic, CDCSINK_SOURCE__GROUP=group,
        CDCSINK_SINK__URI=f"kafka://{bootstrap}/{topic}?protocol=canal-json&partition-num={PARTITIONS}&enable-tidb-extension=true",
        CDCSINK_SINK__DISPATCHERS=json.dumps([{"matcher": ["*.*"], "topic": topic + "_{table}", "partition": "index-value"}]),
        CDCSINK_HTTP__ENABLED="false", CDCSINK_LOG__LEVEL="warning",
    )
    launched = time.perf_counter()
    daemons = [subprocess.Popen([sys.executable, "-m", "cdcsink", "run"], env=env, stderr=subprocess.DEVNULL)
               for _ in range(instances)]
    watcher = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await watcher.start()
    first: tuple[float, int] | None = None
    peak = 0.0
    try:
        deadline = time.perf_counter() + 600
        while True:
            offsets = await watcher._coordinator.fetch_committed_offsets(
                [TopicPartition(input_topic, p) for p in range(INPUT_PARTITIONS)]
            )
            committed = sum(max(0, o.offset) for o in offsets.values())
            now = time.perf_counter()
            if first is None and committed:
                first = (now, committed)
            for d in daemons:
                peak = max(peak, _peak_rss_mb(d.pid))
            if committed >= total:
                break
            if now > deadline or any(d.poll() is not None for d in daemons):
                raise SystemExit(f"kafka source run stopped at {committed} of {total} events")
            await asyncio.sleep(0.05)
    finally:
        await watcher.stop()
        for d in daemons:
            d.send_signal(signal.SIGTERM)
        for d in daemons:
            d.wait(60)
    if first is None or first[1] >= total:
        first = (launched, 0)  # all done by the first look (a tiny input): time it from the launch
    events = total - first[1]
    return {"events": events, "seconds": now - first[0], "bytes": nbytes * events // total, "peak_rss_mb": peak,
            "instances": instances}


def _child(args: argparse.Namespace) -> None:
    import uvloop

    mode = args.child
    cpu = CpuByThread()
    with cpu:
        if mode in ("naive", "ceiling"):
            result = uvloop.run(_client_mode(mode, args.bootstrap, args.encoded))
        elif mode == "ceiling-confluent":
            result = uvloop.run(_confluent_ceiling(args.bootstrap, args.encoded))
        elif mode in KAFKA_SOURCE_MODES:
            result = uvloop.run(_kafka_source_mode(int(mode.rsplit("-", 1)[1]), args.bootstrap, args.input))
        elif mode == POSTGRES_MODE:
            from bench.postgres import postgres_mode

            result = postgres_mode(args.bootstrap, args.pg_rows, args.tables, args.pg_rows_per_commit, args.pg_writers)
        elif mode == "latency":
            result = uvloop.run(_latency_mode(args.bootstrap, args.input, args.rate, args.latency_seconds))
        else:
            protocol, client = SINK_MODES[mode]
            result = uvloop.run(_sink_mode(protocol, client, args.bootstrap, args.input, args.check_order))
            from cdcsink import speedups

            result["extensions"] = speedups.status()
    result["cpu"] = cpu.split()
    lat = sorted(result.pop("latencies", []))
    for name, q in (("p50_ms", 0.5), ("p99_ms", 0.99)):
        result[name] = round(lat[min(len(lat) - 1, int(len(lat) * q))] * 1000, 1) if lat else None
    result["max_ms"] = round(lat[-1] * 1000, 1) if lat else None
    result.setdefault("peak_rss_mb", _peak_rss_mb())
    print(json.dumps(result))


def _peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak RSS (default: this one). Not getrusage: on Linux its maximum
    survives exec, so a child would report its parent's peak."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if pid == "self" else 0.0


@contextmanager
def _broker(tmp: str) -> Iterator[str]:
    external = os.environ.get("CDCSINK_BENCH_BOOTSTRAP")
    if external:
        yield external
        return
    from cdcsink.devtools.broker import DevBroker

    with DevBroker(log_path=Path(tmp) / "broker.log") as broker:
        yield broker.bootstrap


def _child_env(pure: bool) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "CDCSINK_NO_EXTENSIONS"}
    if pure:
        env["CDCSINK_NO_EXTENSIONS"] = "1"
    return env


def _run(mode: str, tmp: str, files: dict[str, str], *extra: str) -> dict:
    with _broker(tmp) as bootstrap:
        argv = [sys.executable, "-m", "bench.run", "--child", mode, "--bootstrap", bootstrap,
                "--input", files["events"], "--encoded", files["encoded"], *extra]
        out = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[1],
                             env=_child_env(mode in PURE_MODES))
    if out.returncode != 0:
        raise SystemExit(f"bench mode {mode} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="row events in the input (default 1,000,000)")
    parser.add_argument("--tables", type=int, default=TABLES_DEFAULT)
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode; figures are medians")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"comma-separated, of {', '.join(MODES + KAFKA_SOURCE_MODES + (POSTGRES_MODE,))} (default: the first six)")
    parser.add_argument("--pg-rows", type=int, default=300_000, help="postgres: rows written in the measured load (default 300,000)")
    parser.add_argument("--pg-rows-per-commit", type=int, default=100, help="postgres: rows per transaction (default 100)")
    parser.add_argument("--pg-writers", type=int, default=2, help="postgres: writer processes (default 2)")
    parser.add_argument("--rate", type=float, default=0.0, help="latency run: offered rows/s (default: half the measured cdcsink rate; 0 and no cdcsink mode: skip)")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="latency run: how long to offer load")
    parser.add_argument("--no-latency", dest="latency", action="store_false", help="skip the latency run")
    parser.add_argument("--no-verify", dest="verify", action="store_false", help="skip reading back the first cdcsink run to check order")
    parser.add_argument("--no-stages", dest="stages", action="store_false",
                        help="skip the CPU-per-stage measurement (compiled and pure Python, no broker)")
    parser.add_argument("--stage-rows", type=int, default=200_000, help="stages: lines of the input measured (default 200,000)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--encoded", help=argparse.SUPPRESS)
    parser.add_argument("--check-order", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return 0
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES) - set(KAFKA_SOURCE_MODES) - {POSTGRES_MODE}
    if unknown:
        parser.error(f"unknown mode(s): {', '.join(sorted(unknown))}")

    from tests.workload import generate

    with tempfile.TemporaryDirectory() as tmp:
        files = {"events": f"{tmp}/events.ndjson", "encoded": f"{tmp}/encoded.bin"}
        if set(modes) - {POSTGRES_MODE}:  # the postgres mode writes its own rows
            w = generate(args.events, tables=args.tables, keys=5000, resolved_every=1000, seed=args.seed)
            w.write(Path(files["events"]))
            del w
        if {"naive", "ceiling", "ceiling-confluent"} & set(modes):
            _pre_encode(files["events"], files["encoded"])
        stages = _stages(files["events"], args.stage_rows, args.repeat) if args.stages and set(modes) - {POSTGRES_MODE} else None
        runs: dict[str, list[dict]] = {m: [] for m in modes}
        for r in range(args.repeat):
            for mode in modes:
                verify = ["--check-order"] if args.verify and r == 0 and mode in ("cdcsink-canal-json", "cdcsink-confluent") else []
                extra = verify
                if mode == POSTGRES_MODE:
                    extra = ["--tables", str(args.tables), "--pg-rows", str(args.pg_rows),
                             "--pg-rows-per-commit", str(args.pg_rows_per_commit), "--pg-writers", str(args.pg_writers)]
                runs[mode].append(_run(mode, tmp, files, *extra))
        figures = _table(runs)
        rate = args.rate or (figures["cdcsink-canal-json"]["eps"] / 2 if "cdcsink-canal-json" in figures else 0)
        latency = None
        if rate and args.latency:
            # As many runs as the other modes; the one with the median p99 is reported.
            tries = [_run("latency", tmp, files, "--rate", str(rate), "--latency-seconds", str(args.latency_seconds))
                     for _ in range(args.repeat)]
            latency = sorted(tries, key=lambda r: r["p99_ms"])[len(tries) // 2]
            print(f"\nlatency at {latency['offered_eps']:,.0f} rows/s offered (cdcsink canal-json, read to ack, per batch's oldest row):"
                  f" p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms, max {latency['max_ms']} ms;"
                  f" one row after a pause, written to acked: {latency['single_ms']:.1f} ms"
                  f" (median-p99 run of {len(tries)}; p99s {', '.join(str(r['p99_ms']) for r in tries)})")
    summary = _summary(figures, latency)
    if stages is not None:
        summary["stages_us_per_row"] = stages
    print(json.dumps(summary))
    return 0


def _stages(events: str, rows: int, repeat: int) -> dict[str, dict[str, float]]:
    """``bench.stages`` as built and in pure Python, alternating ``repeat`` times,
    best figure per stage; printed as a table."""
    results: dict[str, list[dict]] = {"compiled": [], "pure-python": []}
    root = Path(__file__).resolve().parents[1]
    for _ in range(repeat):
        for build in results:
            argv = [sys.executable, "-m", "bench.stages", "--input", events, "--rows", str(rows), "--repeat", "2"]
            out = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=root, env=_child_env(build == "pure-python"))
            if out.returncode != 0:
                raise SystemExit(f"bench stages ({build}) failed:\n{out.stderr[-4000:]}")
            results[build].append(json.loads(out.stdout.strip().splitlines()[-1]))
    built = results["compiled"][0]["extensions"]
    table = {build: {stage: min(r["us_per_row"][stage] for r in runs) for stage in runs[0]["us_per_row"]}
             for build, runs in results.items()}
    print(f"CPU per row by stage, µs (no broker; best of {repeat} runs × 2 passes, {rows:,} lines; as built: {built})")
    print(f"{'stage':<24}{'compiled':>10}{'pure-python':>13}{'ratio':>8}")
    for stage, compiled in table["compiled"].items():
        pure = table["pure-python"][stage]
        print(f"{stage:<24}{compiled:>10.2f}{pure:>13.2f}{pure / compiled if compiled else 0:>7.1f}x")
    print()
    return table


def _table(runs: dict[str, list[dict]]) -> dict[str, dict]:
    figures = {}
    print(f"{'mode':<24}{'events/s':>12}{'MB/s':>8}{'peak RSS MB':>13}{'p50 ms':>9}{'p99 ms':>9}"
          f"  {'CPU s: interp/poll/rdkafka/other':<34}  runs (events/s)")
    for mode, results in runs.items():
        rates = [r["events"] / r["seconds"] for r in results]
        fig = {
            "eps": statistics.median(rates),
            "mbs": statistics.median(r["bytes"] / r["seconds"] / 1e6 for r in results),
            "rss": max(r["peak_rss_mb"] for r in results),
            "p50": statistics.median(r["p50_ms"] for r in results) if results[0]["p50_ms"] is not None else None,
            "p99": statistics.median(r["p99_ms"] for r in results) if results[0]["p99_ms"] is not None else None,
            "verified": next((r["verified"] for r in results if "verified" in r), None),
            "extensions": results[0].get("extensions"),
            # CPU seconds per million events, by thread kind (median over the runs).
            "cpu": {k: statistics.median(r["cpu"][k] / r["events"] * 1e6 for r in results) for k in CPU_KINDS},
        }
        figures[mode] = fig
        na = "n/a"
        cpu = "/".join(f"{fig['cpu'][k]:.1f}" for k in CPU_KINDS)
        print(f"{mode:<24}{fig['eps']:>12,.0f}{fig['mbs']:>8.1f}{fig['rss']:>13.0f}"
              f"{fig['p50'] if fig['p50'] is not None else na:>9}{fig['p99'] if fig['p99'] is not None else na:>9}"
              f"  {cpu:<34}  {', '.join(f'{x:,.0f}' for x in rates)}")
        if mode == POSTGRES_MODE:
            from bench.postgres import report_line

            fig["run"], line = report_line(results)
            print(line)
        if fig["verified"] is not None:
            print(f"{'':<24}read back {fig['verified']:,} messages: every row present, per-key order and DDL order hold")
    return figures


def _summary(figures: dict[str, dict], latency: dict | None) -> dict:
    def eps(mode: str) -> float | None:
        return round(figures[mode]["eps"]) if mode in figures else None

    sink, naive, ceiling = eps("cdcsink-canal-json"), eps("naive"), eps("ceiling")
    line = {
        "sink_eps": sink,
        "naive_eps": naive,
        "ceiling_eps": ceiling,
        "ratio_naive": round(sink / naive, 3) if sink and naive else None,
        "ratio_ceiling": round(sink / ceiling, 3) if sink and ceiling else None,
        "peak_rss_mb": round(figures["cdcsink-canal-json"]["rss"], 1) if sink else None,
        "open_protocol_eps": eps("cdcsink-open-protocol"),
        "confluent_eps": eps("cdcsink-confluent"),
        "pure_python_eps": eps("cdcsink-pure-python"),
        "ceiling_confluent_eps": eps("ceiling-confluent"),
        "ratio_confluent_ceiling": (
            round(eps("cdcsink-confluent") / eps("ceiling-confluent"), 3)
            if eps("cdcsink-confluent") and eps("ceiling-confluent") else None
        ),
        # Which implementation of the hot path each cdcsink mode ran.
        "extensions": {mode: fig["extensions"] for mode, fig in figures.items() if fig.get("extensions")},
        # CPU seconds per million events, by thread kind.
        "cpu_per_million_events": {mode: {k: round(v, 2) for k, v in fig["cpu"].items()} for mode, fig in figures.items()},
    }
    for mode in KAFKA_SOURCE_MODES:
        if mode in figures:
            line[mode.replace("-", "_") + "_eps"] = eps(mode)
    if POSTGRES_MODE in figures:
        from bench.postgres import summary

        line.update(summary(figures[POSTGRES_MODE]["run"]))
    if latency is not None:
        line.update(latency_rate=round(latency["offered_eps"]), latency_p50_ms=latency["p50_ms"],
                    latency_p99_ms=latency["p99_ms"], latency_max_ms=latency["max_ms"],
                    single_event_ms=round(latency["single_ms"], 1))
    return line


if __name__ == "__main__":
    sys.exit(main())
