"""canal-json, as TiCDC writes and reads it."""

from cdcsink.codec.canal_json.encoder import CanalJsonEncoder

__all__ = ["CanalJsonEncoder"]
