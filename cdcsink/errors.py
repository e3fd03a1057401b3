"""Errors the daemon reports to its user as one line, never as a traceback."""

from __future__ import annotations


class CdcsinkError(Exception):
    """Base class: ``str(error)`` is a complete one-line reason."""


class ConfigError(CdcsinkError):
    """Invalid configuration: names the file, line and key where it can."""


class InvalidEventError(CdcsinkError):
    """An input line that is not a valid change event: ``origin: reason``."""

    def __init__(self, origin: str, reason: str, raw: bytes | None = None) -> None:
        super().__init__(f"{origin}: {reason}")
        self.origin = origin
        self.reason = reason
        self.raw = raw
        #: Index of the line in the chunk it was decoded from.
        self.index: int | None = None


class MessageTooLargeError(CdcsinkError):
    """An encoded message would exceed the effective max-message-bytes."""


class MessageDecodeError(CdcsinkError):
    """A Kafka message that a TiCDC consumer could not decode: names the protocol,
    the table and column where it can, and what is wrong."""


class AuthenticationError(CdcsinkError):
    """Kafka refused our credentials or we refused its certificate: restarting cannot help."""


class KafkaUnreachableError(CdcsinkError, ConnectionError):
    """No broker of a cluster answered: ``kafka host:port: cannot connect (bootstrap): reason``.
    A connection error, so a run retries it (the broker may come back)."""


class DeliveryError(CdcsinkError):
    """Kafka did not acknowledge a message: names the topic, partition and event."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause
