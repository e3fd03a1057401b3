"""Connection settings every Kafka-facing component shares: TLS and SASL.

The sink and the ``kafka`` source both carry these keys (TiCDC's names); each
component's model inherits them, so a key means the same everywhere.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from cdcsink.configtypes import Bool
from cdcsink.kafka.options import SecurityOptions
from cdcsink.kafka.tls import TlsFileError, tls_context

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")


def broker_address_problem(address: str) -> str | None:
    """Why ``address`` is not a ``host:port`` a Kafka client can dial, or None."""
    host, colon, port = address.rpartition(":")
    if not colon or not host:
        return f"{address!r} is not host:port"
    if "@" in host:
        return f"{address!r}: user:password@ is not supported (use sasl-user and sasl-password)"
    if not (port.isdigit() and 1 <= int(port) <= 65535):
        return f"{address!r}: the port must be a number from 1 to 65535"
    return None


class KafkaSecurityConfig(BaseModel):
    enable_tls: Bool = Field(default=False, description="Connect to Kafka over TLS (1.2 or later); implied by ca, cert or key (false next to them is an error).")
    ca: str | None = Field(default=None, description="TLS: CA bundle (PEM file) to verify the brokers with; default: the system's.")
    cert: str | None = Field(default=None, description="TLS: client certificate (PEM file) for mutual TLS; needs key.")
    key: str | None = Field(default=None, description="TLS: client private key (PEM file, unencrypted); needs cert.")
    insecure_skip_verify: Bool = Field(default=False, description="TLS: do not verify the brokers' certificates or host names (testing only).")
    sasl_mechanism: str | None = Field(default=None, description="SASL: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER.")
    sasl_user: str | None = Field(default=None, description="SASL PLAIN/SCRAM user name.")
    sasl_password: str | None = Field(default=None, description="SASL PLAIN/SCRAM password (masked in config show; or a *_FILE env var).")
    sasl_oauth_token_file: str | None = Field(default=None, description="SASL OAUTHBEARER: a file holding the token, re-read for each new connection (rotation works).")

    def security_problems(self) -> list[str]:
        """Every contradiction or missing piece among the TLS and SASL keys, each
        as ``key: reason``; fills in what the others imply (TLS from ca/cert/key,
        the mechanism's canonical spelling)."""
        problems: list[str] = []
        if self.ca or self.cert or self.key:
            if "enable_tls" in self.model_fields_set and not self.enable_tls:
                # As in TiCDC: an explicit "no TLS" next to TLS files is a contradiction, not a choice.
                problems.append("enable-tls: false, but ca/cert/key are given (they imply TLS)")
            self.enable_tls = True
        if bool(self.cert) != bool(self.key):
            problems.append("cert and key: give both (client certificate and its private key) or neither")
        missing = False
        for name in ("ca", "cert", "key", "sasl_oauth_token_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                missing = True
                what = "is a directory, not a file" if Path(path).is_dir() else "no such file"
                problems.append(f"{name.replace('_', '-')}: {path}: {what}")
        if self.enable_tls and not missing and not problems:
            try:
                tls_context(self.ca, self.cert, self.key, self.insecure_skip_verify)
            except TlsFileError as error:  # names the key: "cert: path: not a PEM certificate"
                problems.append(str(error))
        if self.sasl_mechanism is None:
            if self.sasl_user or self.sasl_password or self.sasl_oauth_token_file:
                problems.append(f"sasl-mechanism: required with sasl-user/sasl-password/sasl-oauth-token-file (one of {', '.join(SASL_MECHANISMS)})")
            return problems
        mechanism = self.sasl_mechanism.upper()
        if mechanism not in SASL_MECHANISMS:
            problems.append(f"sasl-mechanism: {self.sasl_mechanism!r} is not supported (one of {', '.join(SASL_MECHANISMS)})")
            return problems
        self.sasl_mechanism = mechanism
        if mechanism == "OAUTHBEARER":
            if not self.sasl_oauth_token_file:
                problems.append("sasl-oauth-token-file: required with sasl-mechanism=OAUTHBEARER")
        else:
            if not self.sasl_user:
                problems.append(f"sasl-user: required with sasl-mechanism={mechanism}")
            if not self.sasl_password:
                # Empty too: most often a secret file that was mounted empty.
                problems.append(f"sasl-password: required (not empty) with sasl-mechanism={mechanism}")
        return problems

    def security_options(self, where: str) -> SecurityOptions:
        """These settings for the client layer; ``where`` names the config section in errors."""
        return SecurityOptions(
            tls=self.enable_tls,
            ca=self.ca,
            cert=self.cert,
            key=self.key,
            insecure_skip_verify=self.insecure_skip_verify,
            sasl_mechanism=self.sasl_mechanism,
            sasl_user=self.sasl_user,
            sasl_password=self.sasl_password,
            oauth_token_file=self.sasl_oauth_token_file,
            where=where,
        )
