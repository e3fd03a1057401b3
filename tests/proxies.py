"""Test-side proxies in front of a Kafka broker: TLS and working SASL, which the
dev broker lacks, and the rewrite of advertised broker addresses that every
proxy here (and :mod:`tests.faultproxy`) relies on.

- :class:`TlsProxy` terminates TLS (optionally requiring a client certificate)
  and forwards plain bytes to the broker.
- :class:`SaslProxy` answers SaslHandshake (17) and SaslAuthenticate (36)
  itself for known users — PLAIN, SCRAM-SHA-256/512 (RFC 5802, server side)
  and OAUTHBEARER tokens — and forwards every other request. Before a
  connection has authenticated, anything but ApiVersions closes it.

**Every connection goes through the proxy**, whatever address the broker
advertises (its own, as any real Kafka does): a proxy rewrites the broker
addresses in Metadata (API key 3) and FindCoordinator (10) responses to
addresses of its own. It keeps **one listener per advertised broker
address**: the one it was started with stands for the broker it connects to
(when that broker advertises the very address the proxy connects to), and
each other address a response names gets a listener of its own, opened when
first seen, that forwards to that address. A cluster of N brokers is so
fronted by N listeners (N + 1 when the bootstrap address is not one the
cluster advertises), and each request still reaches the broker it was meant
for (a partition's leader, a group's coordinator); faults and checks apply to
all of them alike. Responses are rewritten for the non-flexible versions
(Metadata v0–v8, FindCoordinator v0–v2; aiokafka uses v0–v5 and v0–v1); a
client asking for a later one gets its connection closed with
:class:`UnsupportedVersion` in :attr:`AdvertisedAddresses.errors`, rather than
bypassing the proxy unnoticed. So that a client which would ask for a later
one (librdkafka) does not, the proxy lowers the highest Metadata and
FindCoordinator versions the broker's ApiVersions response offers to those,
and Produce to v7, the last one :mod:`tests.faultproxy`'s ledger reads.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import socket
import ssl
import struct
import threading
from typing import Awaitable, Callable

from aiokafka.protocol.admin import (
    SaslAuthenticateRequest_v0,
    SaslAuthenticateRequest_v1,
    SaslAuthenticateResponse_v0,
    SaslAuthenticateResponse_v1,
    SaslHandShakeRequest_v0,
    SaslHandShakeRequest_v1,
    SaslHandShakeResponse_v0,
)

_API_VERSIONS, _HANDSHAKE, _AUTHENTICATE = 18, 17, 36
_SASL_AUTHENTICATION_FAILED, _UNSUPPORTED_SASL_MECHANISM = 58, 33


_METADATA, _FIND_COORDINATOR = 3, 10
#: The last version of each response the rewrite reads (the non-flexible ones).
_REWRITTEN_UP_TO = {_METADATA: 8, _FIND_COORDINATOR: 2}
#: The last version of each API offered to clients (ApiVersions rewritten): those read here and by the ledger.
_OFFERED_UP_TO = {**_REWRITTEN_UP_TO, 0: 7}
_LOCAL = "127.0.0.1"


class UnsupportedVersion(Exception):
    """A client asked for a Metadata or FindCoordinator version the rewrite cannot read."""


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (the first of a comma-separated list) as ``(host, port)``."""
    host, _, port = address.split(",")[0].strip().rpartition(":")
    return host, int(port)


class AdvertisedAddresses:
    """The broker addresses a cluster advertises, each with the local port a
    client is to use instead; ``open_listener(host, port)`` opens a listener
    forwarding to a broker address not seen before and returns its port.
    ``instead``: one port for every broker (another proxy in front of the
    same broker), and no listeners are opened."""

    def __init__(self, open_listener: Callable[[str, int], int], instead: int | None = None) -> None:
        self._open_listener = open_listener
        self.instead = instead
        #: (host, port) advertised -> local port of its listener.
        self.ports: dict[tuple[str, int], int] = {}
        self.errors: list[Exception] = []

    def local(self, host: str, port: int) -> tuple[str, int]:
        if self.instead is not None:
            return _LOCAL, self.instead
        key = (host, port)
        local = self.ports.get(key)
        if local is None:
            local = self.ports[key] = self._open_listener(host, port)
        return _LOCAL, local


class ResponseRewriter:
    """One connection's rewrite: remembers which requests (by correlation id)
    were Metadata or FindCoordinator, and rewrites the broker addresses in
    their responses. Frames are passed without their size prefix."""

    __slots__ = ("addresses", "_expected")

    def __init__(self, addresses: AdvertisedAddresses) -> None:
        self.addresses = addresses
        self._expected: dict[int, tuple[int, int]] = {}

    def request(self, frame: bytes) -> None:
        api_key, version, correlation = struct.unpack_from(">hhi", frame)
        if api_key == _API_VERSIONS:
            self._expected[correlation] = (api_key, version)
            return
        last = _REWRITTEN_UP_TO.get(api_key)
        if last is None:
            return
        if version > last:
            error = UnsupportedVersion(f"API key {api_key} v{version}: the proxy rewrites v0-v{last} only")
            self.addresses.errors.append(error)
            raise error
        self._expected[correlation] = (api_key, version)

    def response(self, frame: bytes) -> bytes:
        if not self._expected:
            return frame
        entry = self._expected.pop(struct.unpack_from(">i", frame)[0], None)
        if entry is None:
            return frame
        api_key, version = entry
        if api_key == _API_VERSIONS:
            return frame[:4] + _cap_api_versions(memoryview(frame)[4:], version)
        rewrite = _rewrite_metadata if api_key == _METADATA else _rewrite_find_coordinator
        return frame[:4] + rewrite(memoryview(frame)[4:], version, self.addresses.local)


def framed(frame: bytes) -> bytes:
    return struct.pack(">i", len(frame)) + frame


class _Body:
    """Reads a response body field by field, keeping the raw bytes of what it passes."""

    __slots__ = ("data", "pos")

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.pos = 0

    def raw(self, size: int) -> bytes:
        out = bytes(self.data[self.pos : self.pos + size])
        self.pos += size
        return out

    def int32(self) -> int:
        return struct.unpack(">i", self.raw(4))[0]

    def string(self) -> str:
        size = struct.unpack(">h", self.raw(2))[0]
        return self.raw(size).decode() if size >= 0 else ""

    def raw_string(self) -> bytes:
        size = struct.unpack(">h", self.data[self.pos : self.pos + 2])[0]
        return self.raw(2 + max(size, 0))

    def rest(self) -> bytes:
        return bytes(self.data[self.pos :])


def _broker(host: str, port: int) -> bytes:
    encoded = host.encode()
    return struct.pack(">h", len(encoded)) + encoded + struct.pack(">i", port)


Address = Callable[[str, int], tuple[str, int]]


def _uvarint(data: memoryview | bytearray, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _cap_api_versions(data: memoryview, version: int) -> bytes:
    """error_code, api_keys [api_key, min, max (, tagged fields v3+)], ...: each max
    of an API the rewrite reads lowered to the last version it reads (in place)."""
    out = bytearray(data)
    if struct.unpack_from(">h", out, 0)[0] != 0:  # an error (e.g. a version the broker lacks): nothing listed
        return bytes(out)
    if version >= 3:
        count, pos = _uvarint(out, 2)
        count -= 1
    else:
        count, pos = struct.unpack_from(">i", out, 2)[0], 6
    for _ in range(max(count, 0)):
        api_key, _low, high = struct.unpack_from(">hhh", out, pos)
        last = _OFFERED_UP_TO.get(api_key)
        if last is not None and high > last:
            struct.pack_into(">h", out, pos + 4, last)
        pos += 6
        if version >= 3:
            tags, pos = _uvarint(out, pos)
            for _ in range(tags):
                _tag, pos = _uvarint(out, pos)
                size, pos = _uvarint(out, pos)
                pos += size
    return bytes(out)


def _rewrite_metadata(data: memoryview, version: int, address: Address) -> bytes:
    """brokers [node_id, host, port, rack (v1+)] come first (after throttle_time_ms in v3+)."""
    body = _Body(data)
    out = bytearray(body.raw(4) if version >= 3 else b"")
    count = body.int32()
    out += struct.pack(">i", count)
    for _ in range(max(count, 0)):
        out += body.raw(4)  # node_id
        out += _broker(*address(body.string(), body.int32()))
        if version >= 1:
            out += body.raw_string()  # rack
    return bytes(out) + body.rest()


def _rewrite_find_coordinator(data: memoryview, version: int, address: Address) -> bytes:
    """[throttle_time_ms (v1+)], error_code, [error_message (v1+)], node_id, host, port."""
    body = _Body(data)
    out = bytearray(body.raw(4) if version >= 1 else b"")
    out += body.raw(2)
    if version >= 1:
        out += body.raw_string()
    out += body.raw(4)
    host, port = body.string(), body.int32()
    # No coordinator (an error): node -1, host "", port -1, passed on as they are.
    out += _broker(*address(host, port)) if host and port >= 0 else _broker(host, port)
    return bytes(out) + body.rest()


class FrameReader:
    """Splits a byte stream into Kafka frames (int32 size prefix; frames returned without it)."""

    __slots__ = ("buffer",)

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        frames = []
        while len(self.buffer) >= 4:
            size = struct.unpack_from(">i", self.buffer)[0]
            if len(self.buffer) < 4 + size:
                break
            frames.append(bytes(self.buffer[4 : 4 + size]))
            del self.buffer[: 4 + size]
        return frames


Handler = Callable[[tuple[str, int], asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class AsyncListeners:
    """The listening sockets of an asyncio proxy: the one it starts with, which
    forwards to ``upstream``, and one per other broker address advertised."""

    def __init__(self, upstream: str, handle: Handler, port: int = 0, advertise: int | None = None) -> None:
        self.upstream = split_address(upstream)
        self.port = port
        self.addresses = AdvertisedAddresses(self._open, instead=advertise)
        self._handle = handle
        self._servers: list[asyncio.AbstractServer] = []
        self._sockets: list[socket.socket] = []
        self._starting: set[asyncio.Task] = set()

    async def start(self) -> int:
        sock = socket.create_server((_LOCAL, self.port))
        self.port = sock.getsockname()[1]
        self.addresses.ports[self.upstream] = self.port
        await self._serve(sock, self.upstream)
        return self.port

    def _open(self, host: str, port: int) -> int:
        # Listening at once, so a client told this port can connect before the server runs.
        sock = socket.create_server((_LOCAL, 0))
        task = asyncio.get_running_loop().create_task(self._serve(sock, (host, port)))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)
        return sock.getsockname()[1]

    async def _serve(self, sock: socket.socket, upstream: tuple[str, int]) -> None:
        self._sockets.append(sock)

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._handle(upstream, reader, writer)

        self._servers.append(await asyncio.start_server(accept, sock=sock))

    async def stop(self) -> None:
        for task in list(self._starting):
            task.cancel()
        for server in self._servers:
            server.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


async def _pipe_responses(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rewriter: ResponseRewriter) -> None:
    """Broker to client, a whole (rewritten) frame at a time."""
    try:
        while True:
            size = struct.unpack(">i", await reader.readexactly(4))[0]
            writer.write(framed(rewriter.response(await reader.readexactly(size))))
            await writer.drain()
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


class _Proxy:
    """An asyncio proxy: ``serve`` carries one client connection to its broker.

    ``upstream``: the broker's ``host:port``; ``advertise``: a port to name in
    place of every broker address (default: this proxy's own listeners).
    """

    def __init__(self, upstream: str, advertise: int | None = None) -> None:
        self.listeners = AsyncListeners(upstream, self._accept, advertise=advertise)
        self.port = 0
        self._tasks: set[asyncio.Task] = set()

    @property
    def addresses(self) -> AdvertisedAddresses:
        return self.listeners.addresses

    async def start(self) -> "_Proxy":
        self.port = await self.listeners.start()
        return self

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.listeners.stop()

    async def _accept(self, upstream: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*upstream)
            await self.serve(reader, writer, up_reader, up_writer, ResponseRewriter(self.addresses))
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError, UnsupportedVersion):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def serve(self, reader, writer, up_reader, up_writer, rewriter: ResponseRewriter) -> None:
        raise NotImplementedError


class TlsProxy:
    """TLS in front of the broker (``upstream``, ``host:port``), with the given
    server context, on every listener (see the module docstring).

    Blocking sockets in threads rather than asyncio: OpenSSL then sends its
    alerts (e.g. "certificate required") before closing, as a Java broker does,
    where asyncio's TLS transport would just close the connection.
    """

    def __init__(self, upstream: str, context: ssl.SSLContext) -> None:
        self.upstream = split_address(upstream)
        self.context = context
        self.port = 0
        self.addresses = AdvertisedAddresses(self._open)
        self._sockets: list[socket.socket] = []

    async def start(self) -> "TlsProxy":
        self.port = self._listen(self.upstream)
        self.addresses.ports[self.upstream] = self.port
        return self

    async def stop(self) -> None:
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.close()

    def _open(self, host: str, port: int) -> int:
        return self._listen((host, port))

    def _listen(self, upstream: tuple[str, int]) -> int:
        listener = socket.create_server((_LOCAL, 0))
        self._sockets.append(listener)
        threading.Thread(target=self._accept_loop, args=(listener, upstream), daemon=True).start()
        return listener.getsockname()[1]

    def _accept_loop(self, listener: socket.socket, upstream: tuple[str, int]) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client, upstream), daemon=True).start()

    def _serve(self, client: socket.socket, address: tuple[str, int]) -> None:
        self._sockets.append(client)
        try:
            tls = self.context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            client.close()
            return
        upstream = socket.create_connection(address)
        self._sockets += [tls, upstream]
        rewriter = ResponseRewriter(self.addresses)
        threading.Thread(target=_copy_frames, args=(upstream, tls, rewriter.response), daemon=True).start()
        _copy_frames(tls, upstream, rewriter.request)


def _copy_frames(source: socket.socket, target: socket.socket, each: Callable[[bytes], bytes | None]) -> None:
    """Copy whole frames; ``each`` sees every frame first (and replaces it when it returns one)."""
    frames = FrameReader()
    try:
        while data := source.recv(256 * 1024):
            out = bytearray()
            for frame in frames.feed(data):
                replaced = each(frame)
                out += framed(frame if replaced is None else replaced)
            if out:
                target.sendall(out)
    except (OSError, ssl.SSLError, UnsupportedVersion):
        pass
    finally:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.close()


class SaslProxy(_Proxy):
    def __init__(
        self,
        upstream: str,
        users: dict[str, str],
        mechanisms: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"),
        tokens: frozenset[str] = frozenset(),
        advertise: int | None = None,
    ) -> None:
        super().__init__(upstream, advertise)
        self.users = users
        self.mechanisms = mechanisms
        self.tokens = tokens
        #: (mechanism, user or token, succeeded) per authentication attempt.
        self.attempts: list[tuple[str, str, bool]] = []

    async def serve(self, reader, writer, up_reader, up_writer, rewriter: ResponseRewriter) -> None:
        upstream = asyncio.create_task(_pipe_responses(up_reader, writer, rewriter))
        mechanism: str | None = None
        scram: _ScramServer | None = None
        authenticated = False
        try:
            while True:
                size = struct.unpack(">i", await reader.readexactly(4))[0]
                frame = await reader.readexactly(size)
                api_key, version, correlation, client_len = struct.unpack_from(">hhih", frame)
                body = frame[10 + max(client_len, 0) :]
                if api_key == _HANDSHAKE:
                    request = (SaslHandShakeRequest_v0 if version == 0 else SaslHandShakeRequest_v1).decode(body)
                    known = request.mechanism in self.mechanisms
                    mechanism = request.mechanism if known else None
                    code = 0 if known else _UNSUPPORTED_SASL_MECHANISM
                    _reply(writer, correlation, SaslHandShakeResponse_v0(code, list(self.mechanisms)).encode())
                    if mechanism and mechanism.startswith("SCRAM-"):
                        scram = _ScramServer(mechanism, self.users)
                elif api_key == _AUTHENTICATE:
                    request = (SaslAuthenticateRequest_v0 if version == 0 else SaslAuthenticateRequest_v1).decode(body)
                    ok, answer, who, done = self._step(mechanism, scram, request.sasl_auth_bytes)
                    if done:
                        self.attempts.append((mechanism or "?", who, ok))
                        authenticated = ok
                    code, message = (0, None) if ok else (_SASL_AUTHENTICATION_FAILED, f"Authentication failed for {who}")
                    response = (
                        SaslAuthenticateResponse_v0(code, message, answer)
                        if version == 0
                        else SaslAuthenticateResponse_v1(code, message, answer, 3_600_000)
                    )
                    _reply(writer, correlation, response.encode())
                    if not ok:
                        await writer.drain()
                        return
                elif authenticated or api_key == _API_VERSIONS:
                    rewriter.request(frame)
                    up_writer.write(struct.pack(">i", size) + frame)
                else:
                    return  # not authenticated: the broker would drop the connection too
                await writer.drain()
        finally:
            upstream.cancel()
            up_writer.close()

    def _step(self, mechanism: str | None, scram: "_ScramServer | None", data: bytes) -> tuple[bool, bytes, str, bool]:
        """(ok, reply bytes, who, finished) for one SaslAuthenticate round."""
        if mechanism == "PLAIN":
            _, user, password = data.decode().split("\0")
            return self.users.get(user) == password, b"", user, True
        if mechanism == "OAUTHBEARER":
            text = data.decode()
            token = text.split("auth=Bearer ", 1)[1].split("\x01", 1)[0] if "auth=Bearer " in text else ""
            return token in self.tokens, b"", "token", True
        if scram is not None:
            return scram.step(data)
        return False, b"", "unknown mechanism", True


class _ScramServer:
    """The server side of SCRAM (RFC 5802) for a table of plain passwords."""

    def __init__(self, mechanism: str, users: dict[str, str]) -> None:
        self.hash = hashlib.sha256 if mechanism == "SCRAM-SHA-256" else hashlib.sha512
        self.name = "sha256" if mechanism == "SCRAM-SHA-256" else "sha512"
        self.users = users
        self.salt = os.urandom(16)
        self.iterations = 4096
        self.user = ""
        self.first_bare = self.server_first = self.nonce = ""

    def _hmac(self, key: bytes, msg: bytes) -> bytes:
        return hmac.new(key, msg, self.hash).digest()

    def step(self, data: bytes) -> tuple[bool, bytes, str, bool]:
        text = data.decode()
        if not self.first_bare:
            self.first_bare = text.split(",", 2)[2]
            fields = dict(item.split("=", 1) for item in self.first_bare.split(","))
            self.user = fields["n"]
            self.nonce = fields["r"] + base64.b64encode(os.urandom(12)).decode()
            self.server_first = f"r={self.nonce},s={base64.b64encode(self.salt).decode()},i={self.iterations}"
            return True, self.server_first.encode(), self.user, False
        fields = dict(item.split("=", 1) for item in text.split(","))
        without_proof = text.rsplit(",p=", 1)[0]
        password = self.users.get(self.user)
        if password is None or fields.get("r") != self.nonce:
            return False, b"", self.user, True
        salted = hashlib.pbkdf2_hmac(self.name, password.encode(), self.salt, self.iterations)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = self.hash(client_key).digest()
        auth_message = f"{self.first_bare},{self.server_first},{without_proof}".encode()
        signature = self._hmac(stored_key, auth_message)
        proof = base64.b64decode(fields["p"])
        recovered = bytes(a ^ b for a, b in zip(proof, signature))
        if self.hash(recovered).digest() != stored_key:
            return False, b"", self.user, True
        server_signature = self._hmac(self._hmac(salted, b"Server Key"), auth_message)
        return True, b"v=" + base64.b64encode(server_signature), self.user, True


def _reply(writer: asyncio.StreamWriter, correlation: int, body: bytes) -> None:
    payload = struct.pack(">i", correlation) + body
    writer.write(struct.pack(">i", len(payload)) + payload)
