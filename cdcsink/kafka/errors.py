"""Kafka client errors in cdcsink's terms, whatever the client library.

The supervisor asks two questions of a failure: may a new run from the
checkpoint succeed (:func:`is_retriable`), and did TLS or SASL refuse us
(:func:`security_refusal`, which makes it fatal and names it in one line).
Each client answers them through its errors: a :class:`KafkaClientError`
carries both answers as attributes; aiokafka's own errors carry a
``retriable`` flag of their own, and the aiokafka module registers what
its errors do not say (:func:`register_checks`: which SASL errors mean a
refusal, that its timeout error is retriable). Nothing here imports a client
library.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from typing import Awaitable, Callable

from cdcsink.errors import CdcsinkError

#: Words in OpenSSL's reason for a TLS session refused for good: a certificate
#: refused by either side, no common protocol version or cipher. A connection
#: that merely went away (EOF) or a damaged record is not among them.
TLS_REFUSALS = ("CERTIFICATE", "UNKNOWN_CA", "HANDSHAKE_FAILURE", "PROTOCOL_VERSION", "ACCESS_DENIED", "INSUFFICIENT_SECURITY", "CIPHER")


class KafkaClientError(CdcsinkError):
    """A client library's error, translated at the client layer's boundary.

    ``name`` is the library's code for it (``_MSG_TIMED_OUT``, a Kafka error
    name), a bounded set used as the ``error`` label of metrics; ``retriable``
    says whether a new run may succeed; ``refusal`` is set when TLS or SASL
    refused the connection (never retriable).
    """

    def __init__(self, message: str, *, name: str, retriable: bool, refusal: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.retriable = retriable and refusal is None
        self.refusal = refusal


_refusal_checks: list[Callable[[BaseException], str | None]] = []
_retriable_checks: list[Callable[[BaseException], bool | None]] = []


def register_checks(
    refusal: Callable[[BaseException], str | None], retriable: Callable[[BaseException], bool | None]
) -> None:
    """Teach :func:`security_refusal` and :func:`is_retriable` a library's own
    errors: ``refusal`` names the refusal an error means (else None),
    ``retriable`` overrides an error's own flag (None: no opinion)."""
    if refusal not in _refusal_checks:
        _refusal_checks.append(refusal)
    if retriable not in _retriable_checks:
        _retriable_checks.append(retriable)


def tls_refusal(error: BaseException) -> str | None:
    """Why TLS with a broker is refused, if ``error`` (a Python ssl error) says it is for good."""
    reason = getattr(error, "reason", None) or ""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {getattr(error, 'verify_message', None) or reason or error}"
    if isinstance(error, ssl.SSLError) and any(word in reason for word in TLS_REFUSALS):
        return f"TLS handshake failed: {reason}"
    return None


def security_refusal(error: BaseException) -> str | None:
    """The TLS or SASL refusal behind ``error``, following its causes (a client
    may wrap a refused connection in a retriable connection error)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        refusal = getattr(current, "refusal", None)
        if isinstance(refusal, str):
            return refusal
        refusal = tls_refusal(current)
        if refusal is not None:
            return refusal
        for check in _refusal_checks:
            refusal = check(current)
            if refusal is not None:
                return refusal
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return None


def is_retriable(error: BaseException) -> bool:
    """Whether retrying may succeed (broker down, leader moved, timeout): the
    error's own ``retriable`` flag, else true for timeouts and connection
    errors; never when TLS or SASL refused us, whatever wraps that."""
    if security_refusal(error) is not None:
        return False
    for check in _retriable_checks:
        verdict = check(error)
        if verdict is not None:
            return verdict
    flag = getattr(error, "retriable", None)
    if isinstance(flag, bool):
        return flag
    return isinstance(error, (asyncio.TimeoutError, TimeoutError, ConnectionError))


async def with_retries(send_once: Callable[[], Awaitable[None]], max_retry: int) -> None:
    """Await ``send_once()`` until it succeeds, at most ``max_retry`` times more
    after the first failure, while the failure :func:`is_retriable`; jittered
    exponential backoff from 0.1 s up to 5 s between tries. The last error is raised.
    Both clients' retrying (DDL, watermark and bootstrap) producers use it."""
    backoff = 0.1
    for attempt in range(max_retry + 1):
        try:
            await send_once()
            return
        except Exception as error:
            if attempt >= max_retry or not is_retriable(error):
                raise
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, 5.0)
