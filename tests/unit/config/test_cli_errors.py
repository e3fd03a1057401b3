"""Mistakes a user makes, as the user sees them: ``python -m cdcsink ...`` in a
subprocess; every problem is one ``cdcsink: ...`` line on stderr, never a
traceback, with the documented exit code (2 for configuration)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdcsink.devtools.broker import free_port

ROOT = Path(__file__).resolve().parents[3]
EVENTS = '{"kind":"row","schema":"shop","table":"orders","commit_ts":1,"op":"insert","pk":["id"],"columns":{"id":"bigint"},"after":{"id":1}}\n'


def cdcsink(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("CDCSINK_")}
    clean.update({"PYTHONPATH": str(ROOT), "CDCSINK_HTTP__ENABLED": "false", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "cdcsink", *args], capture_output=True, text=True, env=clean, cwd=cwd, timeout=timeout
    )


def problems(result: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr's lines, each checked to be one of the daemon's own one-line reasons."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("cdcsink: ") for line in lines), result.stderr
    return [line.removeprefix("cdcsink: ") for line in lines]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "events.ndjson").write_text(EVENTS)
    path = tmp_path / "cdcsink.yaml"
    path.write_text(
        f"""\
source:
  path: {tmp_path}/events.ndjson
sink:
  uri: kafka://127.0.0.1:{free_port()}/cdc?protocol=canal-json
checkpoint:
  store: file://{tmp_path}/cp.json
restart:
  backoff-min: 50ms
  backoff-max: 100ms
  max-attempts: 1
"""
    )
    return path


def test_config_show_names_the_env_var_that_beat_the_files_uri_parameter(config, tmp_path):
    result = cdcsink("config", "show", "--config", str(config), cwd=tmp_path, env={"CDCSINK_SINK__PROTOCOL": "open-protocol"})
    assert result.returncode == 0, result.stderr
    assert f"sink.protocol = 'open-protocol'  # env CDCSINK_SINK__PROTOCOL, over {config}:4 (sink.uri parameter)" in result.stdout


def test_a_misspelt_env_var_is_refused(config, tmp_path):
    result = cdcsink("run", "--config", str(config), cwd=tmp_path, env={"CDCSINK_CHECKPOINT_STORE": "/x.json"})
    assert result.returncode == 2
    assert problems(result) == ["env CDCSINK_CHECKPOINT_STORE: not a cdcsink setting (did you mean CDCSINK_CHECKPOINT__STORE?)"]


@pytest.mark.parametrize("name", ["CDCSINK_NO_EXTENSIONS", "CDCSINK_REQUIRE_EXTENSIONS"])
def test_the_compiled_hot_path_switches_are_not_refused_as_settings(config, tmp_path, name):
    # CDCSINK_NO_EXTENSIONS is read at run time too (and often left set from the build).
    result = cdcsink("config", "show", "--config", str(config), cwd=tmp_path, env={name: "1"})
    assert result.returncode == 0, result.stderr
    assert name not in result.stdout + result.stderr


def test_a_value_of_no_extensions_that_says_neither_yes_nor_no_is_refused(config, tmp_path):
    result = cdcsink("run", "--config", str(config), cwd=tmp_path, env={"CDCSINK_NO_EXTENSIONS": "pure"})
    assert result.returncode == 2
    assert problems(result) == [
        "env CDCSINK_NO_EXTENSIONS: expected 1, true, yes or on (pure Python) or 0, false, no or off, got 'pure'"
    ]
    for value in ("0", "off", "TRUE", ""):
        shown = cdcsink("config", "show", "--config", str(config), cwd=tmp_path, env={"CDCSINK_NO_EXTENSIONS": value})
        assert shown.returncode == 0, (value, shown.stderr)


def test_a_config_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "cdcsink.yaml"
    path.write_bytes(b"source:\n  path: /x\nsink:\n  uri: kafka://h:1/t?protocol=canal-json # caf\xe9\n")
    result = cdcsink("check", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert problems(result) == [f"{path}:4: not UTF-8 text (byte 0xe9); save the config file as UTF-8"]


def test_a_port_that_is_not_a_number(tmp_path):
    result = cdcsink("check", cwd=tmp_path, env={"CDCSINK_SINK__URI": "kafka://127.0.0.1:notaport/x?protocol=canal-json", "CDCSINK_SOURCE__TYPE": "stdin"})
    assert result.returncode == 2
    assert problems(result) == ["env CDCSINK_SINK__URI: sink.uri: broker '127.0.0.1:notaport': the port must be a number from 1 to 65535"]


def test_bad_json_in_the_dispatchers_env_var(tmp_path):
    env = {"CDCSINK_SINK__URI": "kafka://h:1/x?protocol=canal-json", "CDCSINK_SOURCE__TYPE": "stdin", "CDCSINK_SINK__DISPATCHERS": "[{matcher: x}]"}
    result = cdcsink("check", cwd=tmp_path, env=env)
    assert result.returncode == 2
    (line,) = problems(result)
    assert line.startswith("env CDCSINK_SINK__DISPATCHERS: sink.dispatchers takes a JSON list")


def test_check_with_an_unreachable_broker_is_one_line_and_exit_1(config, tmp_path):
    port = config.read_text().split("127.0.0.1:", 1)[1].split("/", 1)[0]
    result = cdcsink("check", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert problems(result) == [f"kafka 127.0.0.1:{port}: cannot connect (bootstrap): connection refused"]


def test_run_with_an_unreachable_broker_retries_and_names_the_reason(config, tmp_path):
    port = config.read_text().split("127.0.0.1:", 1)[1].split("/", 1)[0]
    result = cdcsink("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    reason = f"kafka 127.0.0.1:{port}: cannot connect (bootstrap): connection refused"
    assert f"cause='{reason}'" in result.stderr  # the restart's log line
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"cdcsink: giving up after 1 restarts without progress: {reason}"
    assert "Traceback" not in result.stderr and "KafkaConnectionError" not in result.stderr


@pytest.mark.parametrize("command", ["run", "check"])
def test_a_missing_input_file_is_refused_before_connecting(config, tmp_path, command):
    (tmp_path / "events.ndjson").unlink()
    result = cdcsink(command, "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert problems(result) == [f"source.path: {tmp_path}/events.ndjson: no such file"]
    assert "config: ok" not in result.stdout


def test_an_input_path_that_is_a_directory_is_refused_before_connecting(config, tmp_path):
    (tmp_path / "events.ndjson").unlink()
    (tmp_path / "events.ndjson").mkdir()
    result = cdcsink("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert problems(result) == [f"source.path: {tmp_path}/events.ndjson: is a directory, not an NDJSON file"]


def test_an_invalid_default_topic_is_refused_before_connecting(config, tmp_path):
    config.write_text(config.read_text().replace("/cdc?", "/bad%20topic?"))
    result = cdcsink("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert problems(result) == [
        f"{config}:4: sink.uri: default topic: topic 'bad topic' has characters Kafka does not allow (only A-Z a-z 0-9 . _ -)"
    ]


def test_every_problem_is_its_own_line(config, tmp_path):
    config.write_text(config.read_text().replace("protocol=canal-json", "protocol=canal-json&write-timeout=0s&read-timeout=0s") + "log:\n  level: loud\n")
    result = cdcsink("run", "--config", str(config), cwd=tmp_path, env={"CDCSINK_SINK__PARTITON_NUM": "3"})
    assert result.returncode == 2
    assert sorted(problems(result)) == sorted([
        "env CDCSINK_SINK__PARTITON_NUM: not a cdcsink setting (did you mean CDCSINK_SINK__PARTITION_NUM?)",
        f"{config}:4: sink.read-timeout (sink.uri parameter): Input should be greater than 0",
        f"{config}:4: sink.write-timeout (sink.uri parameter): Input should be greater than 0",
        f"{config}:12: log.level: Input should be 'debug', 'info', 'warning' or 'error'",
    ])


def test_no_configuration_at_all(tmp_path):
    code = (
        "import sys, pathlib, cdcsink.config as c; c.DEFAULT_CONFIG = pathlib.Path('absent.yaml');"
        "from cdcsink.cli import main; sys.exit(main(['run']))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("CDCSINK_")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**clean, "PYTHONPATH": str(ROOT)}, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert problems(result) == [
        "no configuration: pass --config FILE, set CDCSINK_CONFIG (or mount /etc/cdcsink/cdcsink.yaml), "
        "or set CDCSINK_SINK__URI and CDCSINK_SOURCE__PATH"
    ]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.mkdir(), "{p}: is a directory, not a config file"),
        (lambda p: p.write_text(""), "{p}: no settings in the file (sink.uri, and source.path for a file source, are needed)"),
        (lambda p: None, "{p}: cannot read the config file: No such file or directory"),
    ],
)
def test_a_config_path_that_holds_no_config(tmp_path, make, message):
    path = tmp_path / "cdcsink.yaml"
    make(path)
    result = cdcsink("run", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert problems(result) == [message.format(p=path)]


def test_check_with_an_unreachable_kafka_source_names_the_source(config, tmp_path):
    port = free_port()
    source = f"source:\n  type: kafka\n  bootstrap: 127.0.0.1:{port}\n  topics: [in]\n  group: g\n"
    text = config.read_text()
    config.write_text(source + text[text.index("sink:"):])
    result = cdcsink("check", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert problems(result) == [f"kafka source 127.0.0.1:{port}: cannot connect (bootstrap): connection refused"]


async def test_the_reason_names_each_broker_when_they_differ():
    import asyncio

    from cdcsink.kafka.aiokafka_client import unreachable

    server = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", 0)
    listening = server.sockets[0].getsockname()[1]
    refused = free_port()
    try:
        error = await unreachable([f"127.0.0.1:{refused}", f"127.0.0.1:{listening}"])
    finally:
        server.close()
    assert isinstance(error, ConnectionError)  # a run retries it
    assert str(error) == (
        f"kafka 127.0.0.1:{refused},127.0.0.1:{listening}: cannot connect (bootstrap): "
        f"127.0.0.1:{refused}: connection refused; "
        f"127.0.0.1:{listening}: connected, but no Kafka answer (not a Kafka listener, or it needs TLS or SASL?)"
    )


def test_with_json_logs_each_problem_is_its_own_json_line(config, tmp_path):
    import json

    config.write_text(config.read_text().replace("protocol=canal-json", "protocol=canal-json&write-timeout=0s"))
    result = cdcsink("run", "--config", str(config), cwd=tmp_path, env={"CDCSINK_LOG__FORMAT": "json", "CDCSINK_SINK__PARTITON_NUM": "3"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [json.loads(line) for line in result.stderr.strip().splitlines()]
    assert sorted(line["event"] for line in lines) == sorted([
        "env CDCSINK_SINK__PARTITON_NUM: not a cdcsink setting (did you mean CDCSINK_SINK__PARTITION_NUM?)",
        f"{config}:4: sink.write-timeout (sink.uri parameter): Input should be greater than 0",
    ])
    assert all(line["exit_code"] == 2 and line["level"] == "critical" for line in lines)


def test_a_log_format_in_upper_case_is_taken_and_an_unknown_one_refused_in_plain_text(config, tmp_path):
    import json

    config.write_text(config.read_text().replace("protocol=canal-json", "protocol=canal-json&write-timeout=0s"))
    upper = cdcsink("run", "--config", str(config), cwd=tmp_path, env={"CDCSINK_LOG__FORMAT": "JSON"})
    assert upper.returncode == 2 and "Traceback" not in upper.stderr
    (line,) = [json.loads(line) for line in upper.stderr.strip().splitlines()]
    assert line["event"] == f"{config}:4: sink.write-timeout (sink.uri parameter): Input should be greater than 0"
    # A format that is none: its refusal cannot be in that format, and is plain text.
    unknown = cdcsink("run", "--config", str(config), cwd=tmp_path, env={"CDCSINK_LOG__FORMAT": "jsonl"})
    assert "env CDCSINK_LOG__FORMAT: log.format: Input should be 'json' or 'console'" in problems(unknown)
