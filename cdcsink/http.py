"""The daemon's HTTP endpoints, served from the asyncio loop itself:
``/metrics`` (Prometheus), ``/healthz`` (the loop answers) and ``/readyz``
(connected to Kafka, topics ready, checkpoint store writable)."""

from __future__ import annotations

import asyncio
import errno

import orjson
import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cdcsink.errors import ConfigError
from cdcsink.metrics import Metrics

log = structlog.get_logger("cdcsink.http")


class Readiness:
    """Whether the daemon can do its work now, and why not when it cannot."""

    def __init__(self) -> None:
        self.ready = False
        self.reason = "starting"

    def set(self, ready: bool, reason: str = "") -> None:
        if ready != self.ready or reason != self.reason:
            log.info("readiness changed", ready=ready, reason=reason or None)
        self.ready = ready
        self.reason = reason


class HttpServer:
    def __init__(self, metrics: Metrics, readiness: Readiness, host: str, port: int) -> None:
        self.metrics = metrics
        self.readiness = readiness
        self.host = host
        self.port = port
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        """Listen, or raise a one-line :class:`ConfigError` naming the setting at fault."""
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"http.port: port {self.port} on {self.host} is already in use by another process "
                    "(choose a free http.port, 0 for any, or http.enabled: false)"
                ) from None
            raise ConfigError(
                f"http.host/http.port: cannot listen on {self.host}:{self.port}: {error.strerror or error}"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("http endpoints listening", host=self.host, port=self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, _, rest = request.partition(b" ")
            path = rest.split(b" ", 1)[0].split(b"?", 1)[0].decode(errors="replace")
            status, ctype, body = self._route(method.decode(errors="replace"), path)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + (body if method != b"HEAD" else b""))
            await writer.drain()
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(self.metrics.registry)
        if path == "/healthz":
            return "200 OK", "application/json", b'{"status":"ok"}\n'
        if path == "/readyz":
            if self.readiness.ready:
                return "200 OK", "application/json", b'{"ready":true}\n'
            body = orjson.dumps({"ready": False, "reason": self.readiness.reason}) + b"\n"
            return "503 Service Unavailable", "application/json", body
        return "404 Not Found", "text/plain", b"not found\n"
