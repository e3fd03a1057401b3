"""TiCDC's open-protocol, as TiCDC writes and reads it."""

from cdcsink.codec.open_protocol.decoder import OpenProtocolDecoder
from cdcsink.codec.open_protocol.encoder import OpenProtocolEncoder

__all__ = ["OpenProtocolDecoder", "OpenProtocolEncoder"]
