"""TLS and SASL end to end, through test-side proxies in front of the broker
(the dev broker speaks neither): the right CA and credentials deliver every
row; a wrong CA, a wrong password or a mechanism the broker does not offer
stop the daemon at once with a one-line reason and no restart loop.

The broker advertises its own address (the dev broker here, as any Kafka
does); the proxies rewrite it, so every connection is secured by them. Run
with ``CDCSINK_TEST_BOOTSTRAP`` against a real Kafka as they are."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import contextlib
import time
from pathlib import Path

import pytest
import trustme

from cdcsink.config import Settings
from cdcsink.devtools.readback import read_back
from cdcsink.kafka.aiokafka_client import security_kwargs
from cdcsink.kafka.options import SecurityOptions
from cdcsink.pipeline import Pipeline
from tests.conftest import broker_to_front
from tests.proxies import SaslProxy, TlsProxy
from tests.workload import Seen, check_delivery, decode_canal, generate
from tests.kafka_client import with_client

pytestmark = [pytest.mark.broker, pytest.mark.each_client]
ROOT = Path(__file__).resolve().parents[2]
USERS = {"alice": "s3cret"}


class Certs:
    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.other_ca = trustme.CA()
        self.server = self.ca.issue_cert("127.0.0.1")
        self.localhost_only = self.ca.issue_cert("localhost")
        client = self.ca.issue_cert("cdcsink-client")
        self.ca_file = directory / "ca.pem"
        self.other_ca_file = directory / "other-ca.pem"
        self.client_cert = directory / "client.pem"
        self.client_key = directory / "client-key.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.other_ca.cert_pem.write_to_path(str(self.other_ca_file))
        client.cert_chain_pems[0].write_to_path(str(self.client_cert))
        client.private_key_pem.write_to_path(str(self.client_key))

    def server_context(self, require_client_cert: bool, server: trustme.LeafCert | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        (server or self.server).configure_cert(context)
        if require_client_cert:
            self.ca.configure_trust(context)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    return Certs(tmp_path_factory.mktemp("certs"))


class Fronted:
    """A proxy, made by ``make_proxy(broker address)``, in front of the broker."""

    def __init__(self, tmp: Path, make_proxy) -> None:
        self.tmp = tmp
        self.make_proxy = make_proxy
        self._broker = contextlib.ExitStack()

    async def __aenter__(self) -> "Fronted":
        self.proxy = self.make_proxy(self._broker.enter_context(broker_to_front(self.tmp)))
        await self.proxy.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.proxy.stop()
        self._broker.close()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.proxy.port}"


def uri(bootstrap: str, topic: str, params: str) -> str:
    return with_client(f"kafka://{bootstrap}/{topic}?protocol=canal-json&enable-tidb-extension=true&partition-num=2&{params}")


async def deliver_and_check(tmp_path: Path, bootstrap: str, topic: str, params: str, security: SecurityOptions) -> None:
    w = generate(300, tables=2, resolved_every=50)
    path = w.write(tmp_path / "events.ndjson")
    settings = Settings(
        changefeed="secure",
        source={"type": "file", "path": str(path)},
        sink={"uri": uri(bootstrap, topic, params)},
        checkpoint={"store": f"file://{tmp_path}/cp.json"},
    )
    result = await asyncio.wait_for(Pipeline(settings).run(), 60)
    assert result.rows == 300 and result.checkpoint_ts == w.last_resolved
    records = await read_back(bootstrap, result.messages, idle_timeout=2.0, **security_kwargs(security))
    check_delivery(w, Seen({tp: decode_canal(recs) for tp, recs in records.items()}))


def run_daemon(tmp_path: Path, bootstrap: str, topic: str, params: str) -> tuple[int, str, float]:
    path = generate(50, tables=1, resolved_every=10).write(tmp_path / "events.ndjson")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
    env.update(
        PYTHONPATH=str(ROOT),
        CDCSINK_SOURCE__PATH=str(path),
        CDCSINK_SINK__URI=uri(bootstrap, topic, params),
        CDCSINK_CHECKPOINT__STORE=f"file://{tmp_path}/cp.json",
        CDCSINK_HTTP__ENABLED="false",
        CDCSINK_RESTART__BACKOFF_MIN="100ms",
        CDCSINK_SINK__WRITE_TIMEOUT="3s",
    )
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "cdcsink", "run"], env=env, capture_output=True, text=True, timeout=60)
    return out.returncode, out.stderr, time.monotonic() - started


def assert_fails_fast(code: int, stderr: str, elapsed: float, reason: str) -> None:
    last = stderr.strip().splitlines()[-1]
    assert code == 1, stderr[-2000:]
    assert last.startswith("cdcsink: ") and reason in last, last
    assert "Traceback" not in stderr
    assert "restarting from the checkpoint" not in stderr, "an authentication failure must not loop"
    assert elapsed < 30


async def test_mutual_tls_with_the_right_ca_delivers_every_row(tmp_path, unique, certs):
    async with Fronted(tmp_path, lambda broker: TlsProxy(broker, certs.server_context(require_client_cert=True))) as kafka:
        params = f"ca={certs.ca_file}&cert={certs.client_cert}&key={certs.client_key}"
        security = SecurityOptions(tls=True, ca=str(certs.ca_file), cert=str(certs.client_cert), key=str(certs.client_key))
        await deliver_and_check(tmp_path, kafka.bootstrap, f"tls-{unique}", params, security)


async def test_insecure_skip_verify_accepts_an_unknown_ca(tmp_path, unique, certs):
    async with Fronted(tmp_path, lambda broker: TlsProxy(broker, certs.server_context(require_client_cert=False))) as kafka:
        params = f"enable-tls=true&ca={certs.other_ca_file}&insecure-skip-verify=true"
        security = SecurityOptions(tls=True, insecure_skip_verify=True)
        await deliver_and_check(tmp_path, kafka.bootstrap, f"tls-skip-{unique}", params, security)


async def test_a_wrong_ca_stops_the_daemon_at_once(tmp_path, unique, certs):
    async with Fronted(tmp_path, lambda broker: TlsProxy(broker, certs.server_context(require_client_cert=False))) as kafka:
        result = await asyncio.to_thread(run_daemon, tmp_path, kafka.bootstrap, f"tls-bad-{unique}", f"ca={certs.other_ca_file}")
    assert_fails_fast(*result, reason=f"kafka {kafka.bootstrap}: TLS certificate verification failed")


async def test_tls_files_are_read_again_for_each_run(tmp_path, unique, certs):
    """A CA file replaced between runs (a certificate rotation) is what the next run
    uses: nothing read from it is kept across runs."""
    from cdcsink.errors import AuthenticationError

    ca = tmp_path / "rotating-ca.pem"
    ca.write_bytes(certs.other_ca_file.read_bytes())
    async with Fronted(tmp_path, lambda broker: TlsProxy(broker, certs.server_context(require_client_cert=False))) as kafka:
        w = generate(100, tables=2, resolved_every=20)
        path = w.write(tmp_path / "events.ndjson")
        settings = Settings(
            changefeed="rotate",
            source={"type": "file", "path": str(path)},
            sink={"uri": uri(kafka.bootstrap, f"tls-rotate-{unique}", f"ca={ca}")},
            checkpoint={"store": f"file://{tmp_path}/cp.json"},
        )
        with pytest.raises(AuthenticationError, match="TLS certificate verification failed"):
            await asyncio.wait_for(Pipeline(settings).run(), 60)
        ca.write_bytes(certs.ca_file.read_bytes())
        result = await asyncio.wait_for(Pipeline(settings).run(), 60)
    assert result.rows == 100 and result.checkpoint_ts == w.last_resolved


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_sasl_with_the_right_credentials_delivers_every_row(tmp_path, unique, mechanism):
    async with Fronted(tmp_path, lambda broker: SaslProxy(broker, USERS)) as kafka:
        params = f"sasl-mechanism={mechanism.lower()}&sasl-user=alice&sasl-password=s3cret"
        security = SecurityOptions(sasl_mechanism=mechanism, sasl_user="alice", sasl_password="s3cret")
        await deliver_and_check(tmp_path, kafka.bootstrap, f"sasl-{unique}", params, security)
        assert (mechanism, "alice", True) in kafka.proxy.attempts
        assert all(ok for _, _, ok in kafka.proxy.attempts)


async def test_sasl_oauthbearer_reads_the_token_file(tmp_path, unique):
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    async with Fronted(tmp_path, lambda broker: SaslProxy(broker, {}, tokens=frozenset({"tok-123"}))) as kafka:
        params = f"sasl-mechanism=OAUTHBEARER&sasl-oauth-token-file={token}"
        security = SecurityOptions(sasl_mechanism="OAUTHBEARER", oauth_token_file=str(token))
        await deliver_and_check(tmp_path, kafka.bootstrap, f"oauth-{unique}", params, security)
        assert ("OAUTHBEARER", "token", True) in kafka.proxy.attempts


async def test_a_wrong_password_stops_the_daemon_at_once(tmp_path, unique):
    async with Fronted(tmp_path, lambda broker: SaslProxy(broker, USERS)) as kafka:
        params = "sasl-mechanism=SCRAM-SHA-256&sasl-user=alice&sasl-password=wrong"
        result = await asyncio.to_thread(run_daemon, tmp_path, kafka.bootstrap, f"sasl-bad-{unique}", params)
        assert ("SCRAM-SHA-256", "alice", False) in kafka.proxy.attempts
    assert_fails_fast(*result, reason="SASL SCRAM-SHA-256 authentication failed for user 'alice'")


async def test_a_mechanism_the_broker_does_not_offer_stops_the_daemon_at_once(tmp_path, unique):
    async with Fronted(tmp_path, lambda broker: SaslProxy(broker, USERS, mechanisms=("PLAIN",))) as kafka:
        params = "sasl-mechanism=SCRAM-SHA-512&sasl-user=alice&sasl-password=s3cret"
        result = await asyncio.to_thread(run_daemon, tmp_path, kafka.bootstrap, f"sasl-mech-{unique}", params)
    assert_fails_fast(*result, reason=f"kafka {kafka.bootstrap}: the broker does not offer SASL SCRAM-SHA-512")


def test_an_unknown_mechanism_is_a_config_error(tmp_path, unique):
    code, stderr, _ = run_daemon(tmp_path, "127.0.0.1:9", f"cfg-{unique}", "sasl-mechanism=GSSAPI&sasl-user=a&sasl-password=b")
    assert code == 2
    assert "sink.sasl-mechanism (sink.uri parameter): 'GSSAPI' is not supported (one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)" in stderr


async def test_a_certificate_not_valid_for_the_advertised_address_stops_the_daemon_at_once(tmp_path, unique, certs):
    # Bootstrap through "localhost", the name the certificate has; the broker then
    # advertises 127.0.0.1, which it does not have.
    context = certs.server_context(require_client_cert=False, server=certs.localhost_only)
    async with Fronted(tmp_path, lambda broker: TlsProxy(broker, context)) as kafka:
        bootstrap = f"localhost:{kafka.proxy.port}"
        result = await asyncio.to_thread(run_daemon, tmp_path, bootstrap, f"tls-adv-{unique}", f"ca={certs.ca_file}")
    assert_fails_fast(*result, reason=f"kafka {kafka.bootstrap}: TLS certificate verification failed: IP address mismatch")


async def test_credentials_refused_by_the_advertised_broker_stop_the_daemon_at_once(tmp_path, unique):
    # The bootstrap proxy knows alice's password; the one it advertises as the broker does not.
    with broker_to_front(tmp_path) as broker:
        advertised = await SaslProxy(broker, {"alice": "other"}).start()
        bootstrap = await SaslProxy(broker, USERS, advertise=advertised.port).start()
        try:
            params = "sasl-mechanism=PLAIN&sasl-user=alice&sasl-password=s3cret"
            result = await asyncio.to_thread(run_daemon, tmp_path, f"127.0.0.1:{bootstrap.port}", f"sasl-adv-{unique}", params)
        finally:
            await bootstrap.stop()
            await advertised.stop()
    assert ("PLAIN", "alice", True) in bootstrap.attempts and ("PLAIN", "alice", False) in advertised.attempts
    assert_fails_fast(*result, reason=f"kafka 127.0.0.1:{advertised.port}: SASL PLAIN authentication failed for user 'alice'")


async def test_a_missing_client_certificate_stops_the_daemon_at_once(tmp_path, unique, certs):
    async with Fronted(tmp_path, lambda broker: TlsProxy(broker, certs.server_context(require_client_cert=True))) as kafka:
        result = await asyncio.to_thread(run_daemon, tmp_path, kafka.bootstrap, f"tls-nocert-{unique}", f"ca={certs.ca_file}")
    assert_fails_fast(*result, reason=f"kafka {kafka.bootstrap}: TLS handshake failed")
