"""TiCDC's simple protocol (JSON encoding), as TiCDC writes and reads it."""
