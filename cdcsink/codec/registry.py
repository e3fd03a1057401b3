"""Pick the encoder (and the TiCDC-rule decoder) named by ``protocol``.

:data:`ENCODERS` and :data:`DECODERS` are the one list of protocols: the sink
config checks ``protocol`` against the first, the kafka source's
``format`` and ``cdcsink consume`` against the second. Each entry names its
class as ``"module:Class"``, imported only when it is built.
"""

from __future__ import annotations

import importlib
from typing import Any

from cdcsink.codec import Decoder, Encoder
from cdcsink.codec.options import EncoderOptions
from cdcsink.errors import ConfigError

#: protocol -> its encoder.
ENCODERS: dict[str, str] = {
    "canal-json": "cdcsink.codec.canal_json.encoder:CanalJsonEncoder",
    "open-protocol": "cdcsink.codec.open_protocol.encoder:OpenProtocolEncoder",
    "simple": "cdcsink.codec.simple.encoder:SimpleEncoder",
}
#: protocol -> its decoder, which reads messages as TiCDC's consumer does.
DECODERS: dict[str, str] = {
    "canal-json": "cdcsink.codec.canal_json.decoder:CanalJsonDecoder",
    "open-protocol": "cdcsink.codec.open_protocol.decoder:OpenProtocolDecoder",
    "simple": "cdcsink.codec.simple.decoder:SimpleDecoder",
}
PROTOCOLS = tuple(ENCODERS)


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def build_encoder(options: EncoderOptions) -> Encoder:
    target = ENCODERS.get(options.protocol)
    if target is None:
        raise ConfigError(f"sink.protocol: unsupported protocol {options.protocol!r} (supported: {', '.join(ENCODERS)})")
    return _load(target)(options)  # type: ignore[no-any-return]


def build_decoder(options: EncoderOptions) -> Decoder:
    """A decoder that reads ``options.protocol`` messages as TiCDC's consumer does
    (the same options as the encoder that wrote them: extension, compression)."""
    target = DECODERS.get(options.protocol)
    if target is None:
        raise ConfigError(f"sink.protocol: no decoder for protocol {options.protocol!r} (supported: {', '.join(DECODERS)})")
    return _load(target)(options)  # type: ignore[no-any-return]
