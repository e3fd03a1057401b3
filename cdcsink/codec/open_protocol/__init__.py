"""TiCDC's open-protocol, as TiCDC writes and reads it."""

from cdcsink.codec.open_protocol.encoder import OpenProtocolEncoder

__all__ = ["OpenProtocolEncoder"]
