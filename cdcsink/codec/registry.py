"""Pick the encoder (and decoder) named by ``protocol``."""

from __future__ import annotations

import importlib

from cdcsink.codec import Decoder, Encoder
from cdcsink.codec.options import EncoderOptions
from cdcsink.errors import ConfigError

PROTOCOLS = ("canal-json", "open-protocol")


def build_encoder(options: EncoderOptions) -> Encoder:
    if options.protocol == "canal-json":
        from cdcsink.codec.canal_json.encoder import CanalJsonEncoder

        return CanalJsonEncoder(options)
    if options.protocol == "open-protocol":
        from cdcsink.codec.open_protocol.encoder import OpenProtocolEncoder

        return OpenProtocolEncoder(options)
    raise ConfigError(f"sink.protocol: unsupported protocol {options.protocol!r} (supported: {', '.join(PROTOCOLS)})")


#: protocol -> "module:class" of its decoder (TiCDC's consumer rules).
DECODERS = {
    "open-protocol": "cdcsink.codec.open_protocol.decoder:OpenProtocolDecoder",
}


def build_decoder(options: EncoderOptions) -> Decoder:
    """The decoder that reads what ``build_encoder(options)`` writes."""
    target = DECODERS.get(options.protocol)
    if target is None:
        raise ConfigError(f"sink.protocol: no decoder for protocol {options.protocol!r} (supported: {', '.join(DECODERS)})")
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)(options)  # type: ignore[no-any-return]
