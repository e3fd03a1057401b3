"""Pick the encoder (and the TiCDC-rule decoder) named by ``protocol``."""

from __future__ import annotations

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


def build_decoder(options: EncoderOptions) -> Decoder:
    """A decoder that reads ``options.protocol`` messages as TiCDC's consumer does
    (the same options as the encoder that wrote them: extension, compression)."""
    if options.protocol == "canal-json":
        from cdcsink.codec.canal_json.decoder import CanalJsonDecoder

        return CanalJsonDecoder(options)
    if options.protocol == "open-protocol":
        from cdcsink.codec.open_protocol.decoder import OpenProtocolDecoder  # type: ignore[import-not-found,unused-ignore]

        return OpenProtocolDecoder(options)  # type: ignore[no-any-return,unused-ignore]
    raise ConfigError(f"sink.protocol: unsupported protocol {options.protocol!r} (supported: {', '.join(PROTOCOLS)})")
