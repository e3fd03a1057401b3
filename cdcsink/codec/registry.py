"""Pick the encoder (and the decoder) named by ``protocol``.

:data:`PROTOCOLS` is the one list of protocols: the sink config checks
``protocol`` against it, ``cdcsink.docs`` prints it, and the kafka source's
``format`` and ``cdcsink consume`` read any of them. Each entry names its
encoder and decoder classes, imported only when built.

:func:`refused_options` says which sink options a protocol does not take:
TiCDC applies them to other protocols only, so setting one with this protocol
is a config error rather than a silent no-op.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from cdcsink.codec import Decoder, Encoder
from cdcsink.codec.options import EncoderOptions
from cdcsink.errors import ConfigError

#: protocol -> (encoder class, decoder class), as ``module:Class``.
PROTOCOLS: dict[str, tuple[str, str]] = {
    "canal-json": (
        "cdcsink.codec.canal_json.encoder:CanalJsonEncoder", "cdcsink.codec.canal_json.decoder:CanalJsonDecoder"
    ),
    "open-protocol": (
        "cdcsink.codec.open_protocol.encoder:OpenProtocolEncoder",
        "cdcsink.codec.open_protocol.decoder:OpenProtocolDecoder",
    ),
    "debezium": ("cdcsink.codec.debezium.encoder:DebeziumEncoder", "cdcsink.codec.debezium.decoder:DebeziumDecoder"),
    "maxwell": ("cdcsink.codec.maxwell.encoder:MaxwellEncoder", "cdcsink.codec.maxwell.decoder:MaxwellDecoder"),
    "simple": ("cdcsink.codec.simple.encoder:SimpleEncoder", "cdcsink.codec.simple.decoder:SimpleDecoder"),
}

#: Options only some protocols take: option -> those protocols.
ONLY_FOR: dict[str, frozenset[str]] = {
    "debezium-disable-schema": frozenset({"debezium"}),
    "debezium-output-old-value": frozenset({"debezium"}),
    **dict.fromkeys(
        ("send-bootstrap-interval-in-sec", "send-bootstrap-in-msg-count", "send-bootstrap-to-all-partition",
         "send-all-bootstrap-at-start", "encoding-format"),
        frozenset({"simple"}),
    ),
}

_NOT_BATCHED = ("max-batch-size", "only-output-updated-columns", "content-compatible")
_NO_LARGE_MESSAGE_HANDLING = ("large-message-handle-option",)

#: Options TiCDC's encoder for a protocol does not read (debezium: ticdc
#: pkg/sink/codec/debezium; maxwell: tiflow pkg/sink/codec/maxwell), and the
#: large-message handling TiCDC refuses for them (ticdc pkg/config/large_message.go:70).
NOT_FOR: dict[str, frozenset[str]] = {
    "debezium": frozenset((*_NOT_BATCHED, *_NO_LARGE_MESSAGE_HANDLING, "delete-only-output-handle-key-columns")),
    "maxwell": frozenset((*_NOT_BATCHED, *_NO_LARGE_MESSAGE_HANDLING, "enable-tidb-extension",
                          "large-message-handle-compression")),
    # simple (ticdc pkg/sink/codec/simple) writes one row per message with its whole old image.
    "simple": frozenset((*_NOT_BATCHED, "enable-tidb-extension", "delete-only-output-handle-key-columns")),
}


def refused_options(protocol: str) -> frozenset[str]:
    """The sink options (hyphenated) that ``protocol`` does not take."""
    only = {option for option, protocols in ONLY_FOR.items() if protocol not in protocols}
    return frozenset(only) | NOT_FOR.get(protocol, frozenset())


def protocols_taking(option: str) -> list[str]:
    return [protocol for protocol in PROTOCOLS if option not in refused_options(protocol)]


def _load(path: str) -> Any:
    module, name = path.split(":")
    return getattr(import_module(module), name)


def build_encoder(options: EncoderOptions) -> Encoder:
    entry = PROTOCOLS.get(options.protocol)
    if entry is None:
        raise ConfigError(f"sink.protocol: unsupported protocol {options.protocol!r} (supported: {', '.join(PROTOCOLS)})")
    return _load(entry[0])(options)  # type: ignore[no-any-return]


def build_decoder(options: EncoderOptions) -> Decoder:
    """A decoder that reads ``options.protocol`` messages back (with the options
    of the encoder that wrote them: extension, compression)."""
    entry = PROTOCOLS.get(options.protocol)
    if entry is None:
        raise ConfigError(f"sink.protocol: no decoder for protocol {options.protocol!r} (supported: {', '.join(PROTOCOLS)})")
    return _load(entry[1])(options)  # type: ignore[no-any-return]
