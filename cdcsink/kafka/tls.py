"""The TLS settings (ca, cert, key, insecure-skip-verify) as an :class:`ssl.SSLContext`,
for any client library.

The config check builds one too, so a file that cannot be used is reported
when the config is loaded, as one line naming its key; the clients build their
own at the start of every run, so replaced files are picked up on a restart.
"""

from __future__ import annotations

import ssl
from pathlib import Path


class TlsFileError(ValueError):
    """``<key>: <path>: <reason>`` for a ca, cert or key file that cannot be used."""


def tls_context(ca: str | None, cert: str | None, key: str | None, insecure_skip_verify: bool = False) -> ssl.SSLContext:
    """TLS 1.2 or later; brokers verified with ``ca`` (else the system's CAs) and
    by host name unless ``insecure_skip_verify``; ``cert`` and ``key`` as the
    client certificate (mutual TLS) when both are given."""
    try:
        context = ssl.create_default_context(cafile=ca)
    except ssl.SSLError as error:
        reason = "no PEM certificate in it" if error.reason == "NO_CERTIFICATE_OR_CRL_FOUND" else error.reason or str(error)
        raise TlsFileError(f"ca: {ca}: {reason}") from None
    except OSError as error:
        raise TlsFileError(f"ca: {ca}: {error.strerror}") from None
    if cert and key:
        _load_client_certificate(context, cert, key)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _load_client_certificate(context: ssl.SSLContext, cert: str, key: str) -> None:
    # OpenSSL only says "PEM lib" for either file: look at them first.
    for name, path, marker, kind in (
        ("cert", cert, "-----BEGIN CERTIFICATE-----", "certificate"),
        ("key", key, "PRIVATE KEY-----", "private key"),
    ):
        try:
            text = Path(path).read_text(errors="replace")
        except OSError as error:
            raise TlsFileError(f"{name}: {path}: {error.strerror}") from None
        if marker not in text:
            raise TlsFileError(f"{name}: {path}: not a PEM {kind}")

    def refuse_encrypted() -> bytes:
        # Without a callback OpenSSL would prompt on the terminal for a passphrase.
        raise TlsFileError(f"key: {key}: the private key is encrypted; give it unencrypted")

    try:
        context.load_cert_chain(cert, key, password=refuse_encrypted)
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            raise TlsFileError(f"key: {key}: not the private key of the certificate in {cert}") from None
        raise TlsFileError(f"cert: {cert} (key {key}): cannot be loaded: {error.reason or error}") from None
