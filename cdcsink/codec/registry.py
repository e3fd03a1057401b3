"""Pick the encoder named by ``protocol``."""

from __future__ import annotations

from cdcsink.codec import Encoder
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
