"""The protocol list comes from the codec registry, and a sink option that TiCDC
does not apply to the chosen protocol is refused, one line naming it (ticdc
pkg/config/large_message.go:70 refuses large-message handling for debezium and
maxwell; their encoders read none of the other options refused here)."""

from __future__ import annotations

import pytest

from cdcsink.codec.registry import PROTOCOLS, refused_options
from cdcsink.config import load_settings
from cdcsink.errors import ConfigError
from cdcsink.pipeline import encoder_options
from cdcsink.sink.config import SinkConfig

CONFIG = """\
source:
  type: file
  path: /data/events.ndjson
sink:
  uri: kafka://127.0.0.1:9092/cdc?protocol={protocol}{params}
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("CDCSINK_"):
            monkeypatch.delenv(name)


def load(tmp_path, protocol, params=""):
    path = tmp_path / "cdcsink.yaml"
    path.write_text(CONFIG.format(protocol=protocol, params=params))
    return load_settings(path)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_every_registered_protocol_is_accepted(tmp_path, protocol):
    assert load(tmp_path, protocol).sink.protocol == protocol


def test_an_unknown_protocol_names_the_ones_there_are(tmp_path):
    with pytest.raises(ConfigError, match=r"cdcsink.yaml:5: sink.protocol \(sink.uri parameter\): 'avro' is not a "
                                          r"protocol cdcsink writes \(one of canal-json, open-protocol, debezium, maxwell, simple\)"):
        load(tmp_path, "avro")


@pytest.mark.parametrize("protocol, params, option", [
    ("maxwell", "&enable-tidb-extension=true", "enable-tidb-extension"),
    ("maxwell", "&max-batch-size=4", "max-batch-size"),
    ("maxwell", "&large-message-handle-compression=zstd", "large-message-handle-compression"),
    ("maxwell", "&only-output-updated-columns=true", "only-output-updated-columns"),
    ("debezium", "&large-message-handle-option=handle-key-only", "large-message-handle-option"),
    ("debezium", "&delete-only-output-handle-key-columns=true", "delete-only-output-handle-key-columns"),
    ("debezium", "&content-compatible=true", "content-compatible"),
    ("canal-json", "&debezium-disable-schema=true", "debezium-disable-schema"),
    ("open-protocol", "&debezium-output-old-value=false", "debezium-output-old-value"),
])
def test_an_option_the_protocol_does_not_take_is_refused_in_one_line(tmp_path, protocol, params, option):
    with pytest.raises(ConfigError, match=rf"cdcsink.yaml:5: sink.{option} \(sink.uri parameter\): not used by protocol "
                                          rf"{protocol} \(TiCDC applies it to ") as info:
        load(tmp_path, protocol, params)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("protocol, params", [
    ("debezium", "&enable-tidb-extension=true&debezium-disable-schema=true&debezium-output-old-value=false"
                 "&large-message-handle-compression=lz4&max-message-bytes=2048"),
    ("maxwell", "&delete-only-output-handle-key-columns=true&max-message-bytes=2048"),
    # an option left at its default says nothing, so one config can switch protocols
    ("maxwell", "&max-batch-size=16&enable-tidb-extension=false"),
])
def test_the_options_a_protocol_takes_are_accepted(tmp_path, protocol, params):
    assert load(tmp_path, protocol, params).sink.protocol == protocol


def test_the_debezium_options_reach_the_encoder():
    sink = SinkConfig(uri="kafka://k:9092/t?protocol=debezium&debezium-disable-schema=true&debezium-output-old-value=false")
    options = encoder_options(sink, 1000, "orders")
    assert (options.debezium_disable_schema, options.debezium_output_old_value, options.cluster_id) == (True, False, "orders")


def test_every_refused_option_is_a_sink_setting():
    for protocol in PROTOCOLS:
        for option in refused_options(protocol):
            assert option.replace("-", "_") in SinkConfig.model_fields, option


def test_include_start_ts_is_unknown_because_the_input_has_no_start_ts(tmp_path):
    with pytest.raises(ConfigError, match=r"sink.uri: unknown parameter 'debezium-include-start-ts'"):
        load(tmp_path, "debezium", "&debezium-include-start-ts=true")
