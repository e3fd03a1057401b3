"""Sink-URI security parameters (TiCDC's names) to Kafka client settings."""

from __future__ import annotations

import re
import ssl

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from cdcsink.config import Settings
from cdcsink.kafka.aiokafka_client import FileTokenProvider, security_kwargs
from cdcsink.pipeline import kafka_options


def options(params: str):
    settings = Settings(source={"type": "stdin"}, sink={"uri": f"kafka://k:9092/t?protocol=canal-json&{params}"})
    return kafka_options(settings).security


@pytest.fixture(scope="module")
def pem(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pem")
    ca = trustme.CA()
    cert = ca.issue_cert("client")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    cert.private_key_pem.write_to_path(str(directory / "key.pem"))
    ca.issue_cert("other").private_key_pem.write_to_path(str(directory / "other-key.pem"))
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pass")
    )
    (directory / "encrypted-key.pem").write_bytes(encrypted)
    (directory / "garbage.pem").write_text("not PEM\n")
    return directory


def test_no_security_is_plaintext():
    assert security_kwargs(options("")) == {"security_protocol": "PLAINTEXT"}


def test_ca_implies_tls_and_verifies(pem):
    kwargs = security_kwargs(options(f"ca={pem}/ca.pem"))
    context = kwargs["ssl_context"]
    assert kwargs["security_protocol"] == "SSL"
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert any(c["subject"] for c in context.get_ca_certs())


def test_client_certificate_and_insecure_skip_verify(pem):
    kwargs = security_kwargs(options(f"cert={pem}/cert.pem&key={pem}/key.pem&insecure-skip-verify=true"))
    context = kwargs["ssl_context"]
    assert kwargs["security_protocol"] == "SSL"
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


@pytest.mark.parametrize("mechanism", ["plain", "scram-sha-256", "SCRAM-SHA-512"])
def test_sasl_user_and_password(mechanism):
    kwargs = security_kwargs(options(f"sasl-mechanism={mechanism}&sasl-user=alice&sasl-password=pw"))
    assert kwargs == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism.upper(),
        "sasl_plain_username": "alice",
        "sasl_plain_password": "pw",
    }


async def test_sasl_over_tls_with_an_oauth_token_file(tmp_path, pem):
    token = tmp_path / "token"
    token.write_text("first\n")
    kwargs = security_kwargs(options(f"enable-tls=true&sasl-mechanism=OAUTHBEARER&sasl-oauth-token-file={token}"))
    assert kwargs["security_protocol"] == "SASL_SSL" and kwargs["sasl_mechanism"] == "OAUTHBEARER"
    provider = kwargs["sasl_oauth_token_provider"]
    assert isinstance(provider, FileTokenProvider) and await provider.token() == "first"
    token.write_text("rotated\n")
    assert await provider.token() == "rotated"


@pytest.mark.parametrize(
    "params, message",
    [
        ("cert={pem}/cert.pem", "cert and key: give both"),
        ("ca={pem}/missing.pem", "ca: {pem}/missing.pem: no such file"),
        ("sasl-user=alice&sasl-password=pw", "sasl-mechanism: required with sasl-user"),
        ("sasl-mechanism=PLAIN&sasl-user=alice", "sasl-password: required (not empty) with sasl-mechanism=PLAIN"),
        ("sasl-mechanism=PLAIN&sasl-user=alice&sasl-password=", "sasl-password: required (not empty) with sasl-mechanism=PLAIN"),
        ("sasl-mechanism=SCRAM-SHA-256&sasl-password=pw", "sasl-user: required with sasl-mechanism=SCRAM-SHA-256"),
        ("enable-tls=false&ca={pem}/ca.pem", "enable-tls: false, but ca/cert/key are given (they imply TLS)"),
        ("ca={pem}/garbage.pem", "ca: {pem}/garbage.pem: no PEM certificate in it"),
        ("cert={pem}/garbage.pem&key={pem}/key.pem", "cert: {pem}/garbage.pem: not a PEM certificate"),
        ("cert={pem}/cert.pem&key={pem}/garbage.pem", "key: {pem}/garbage.pem: not a PEM private key"),
        ("cert={pem}/cert.pem&key={pem}/other-key.pem", "key: {pem}/other-key.pem: not the private key of the certificate in {pem}/cert.pem"),
        ("cert={pem}/cert.pem&key={pem}/encrypted-key.pem", "key: {pem}/encrypted-key.pem: the private key is encrypted; give it unencrypted"),
        ("sasl-mechanism=OAUTHBEARER", "sasl-oauth-token-file: required with sasl-mechanism=OAUTHBEARER"),
        ("sasl-mechanism=GSSAPI&sasl-user=a&sasl-password=b", "sasl-mechanism: 'GSSAPI' is not supported"),
    ],
)
def test_incomplete_or_wrong_settings_are_refused(pem, params, message):
    with pytest.raises(ValidationError, match=re.escape(message.format(pem=pem))):
        options(params.format(pem=pem))


def test_a_tls_file_broken_after_the_config_check_is_a_config_error_naming_its_key(pem):
    from cdcsink.errors import ConfigError
    from cdcsink.kafka.options import SecurityOptions

    with pytest.raises(ConfigError, match=re.escape(f"sink.ca: {pem}/garbage.pem: no PEM certificate in it")):
        security_kwargs(SecurityOptions(tls=True, ca=f"{pem}/garbage.pem"))
