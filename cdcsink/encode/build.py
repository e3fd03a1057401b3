"""Pick the encoder named by ``protocol``."""

from __future__ import annotations

from cdcsink.encode import Encoder
from cdcsink.encode.options import EncoderOptions
from cdcsink.errors import ConfigError

PROTOCOLS = ("canal-json", "open-protocol")


def build_encoder(options: EncoderOptions) -> Encoder:
    if options.protocol == "canal-json":
        from cdcsink.encode.canal_json import CanalJsonEncoder

        return CanalJsonEncoder(options)
    if options.protocol == "open-protocol":
        from cdcsink.encode.open_protocol import OpenProtocolEncoder

        return OpenProtocolEncoder(options)
    raise ConfigError(f"sink.protocol: unsupported protocol {options.protocol!r} (supported: {', '.join(PROTOCOLS)})")
