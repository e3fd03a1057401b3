"""Connection settings every Kafka-facing component shares: TLS and SASL.

The sink and the ``kafka`` source both carry these keys (TiCDC's names); each
component's model inherits them, so a key means the same everywhere.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from cdcsink.configtypes import Bool
from cdcsink.kafka.options import SecurityOptions
from cdcsink.kafka.tls import tls_context

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")


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

    def check_security(self) -> None:
        if self.ca or self.cert or self.key:
            if "enable_tls" in self.model_fields_set and not self.enable_tls:
                # As in TiCDC: an explicit "no TLS" next to TLS files is a contradiction, not a choice.
                raise ValueError("enable-tls: false, but ca/cert/key are given (they imply TLS)")
            self.enable_tls = True
        if bool(self.cert) != bool(self.key):
            raise ValueError("cert and key: give both (client certificate and its private key) or neither")
        for name in ("ca", "cert", "key", "sasl_oauth_token_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{name.replace('_', '-')}: {path}: no such file")
        if self.enable_tls:
            tls_context(self.ca, self.cert, self.key, self.insecure_skip_verify)  # TlsFileError names the key
        if self.sasl_mechanism is None:
            if self.sasl_user or self.sasl_password or self.sasl_oauth_token_file:
                raise ValueError(f"sasl-mechanism: required with sasl-user/sasl-password/sasl-oauth-token-file (one of {', '.join(SASL_MECHANISMS)})")
            return
        mechanism = self.sasl_mechanism.upper()
        if mechanism not in SASL_MECHANISMS:
            raise ValueError(f"sasl-mechanism: {self.sasl_mechanism!r} is not supported (one of {', '.join(SASL_MECHANISMS)})")
        self.sasl_mechanism = mechanism
        if mechanism == "OAUTHBEARER":
            if not self.sasl_oauth_token_file:
                raise ValueError("sasl-oauth-token-file: required with sasl-mechanism=OAUTHBEARER")
        elif not self.sasl_user:
            raise ValueError(f"sasl-user: required with sasl-mechanism={mechanism}")
        elif not self.sasl_password:
            # Empty too: most often a secret file that was mounted empty.
            raise ValueError(f"sasl-password: required (not empty) with sasl-mechanism={mechanism}")

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
