"""Test-side proxies that give the dev broker what it lacks: TLS and working SASL.

The broker advertises the proxy's port, so every connection a client makes
(bootstrap and metadata-driven) goes through the proxy.

- :class:`TlsProxy` terminates TLS (optionally requiring a client certificate)
  and forwards plain bytes to the broker.
- :class:`SaslProxy` answers SaslHandshake (17) and SaslAuthenticate (36)
  itself for known users — PLAIN, SCRAM-SHA-256/512 (RFC 5802, server side)
  and OAUTHBEARER tokens — and forwards every other request. Before a
  connection has authenticated, anything but ApiVersions closes it.
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


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(256 * 1024):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class _Proxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> "_Proxy":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            await self.serve(reader, writer, up_reader, up_writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def serve(self, reader, writer, up_reader, up_writer) -> None:
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


class TlsProxy:
    """TLS in front of the broker, with the given server context.

    Blocking sockets in threads rather than asyncio: OpenSSL then sends its
    alerts (e.g. "certificate required") before closing, as a Java broker does,
    where asyncio's TLS transport would just close the connection.
    """

    def __init__(self, upstream_port: int, context: ssl.SSLContext) -> None:
        self.upstream_port = upstream_port
        self.context = context
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    async def start(self) -> "TlsProxy":
        listener = self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    async def stop(self) -> None:
        for sock in [self._listener, *self._sockets]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self._sockets.append(client)
        try:
            tls = self.context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            client.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        self._sockets += [tls, upstream]
        threading.Thread(target=_copy, args=(upstream, tls), daemon=True).start()
        _copy(tls, upstream)


def _copy(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(256 * 1024):
            target.sendall(data)
    except (OSError, ssl.SSLError):
        pass
    finally:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.close()


class SaslProxy(_Proxy):
    def __init__(
        self,
        upstream_port: int,
        users: dict[str, str],
        mechanisms: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"),
        tokens: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(upstream_port)
        self.users = users
        self.mechanisms = mechanisms
        self.tokens = tokens
        #: (mechanism, user or token, succeeded) per authentication attempt.
        self.attempts: list[tuple[str, str, bool]] = []

    async def serve(self, reader, writer, up_reader, up_writer) -> None:
        upstream = asyncio.create_task(_pipe(up_reader, writer))
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
