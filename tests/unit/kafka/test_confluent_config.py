"""kafka-client=confluent: each sink setting's librdkafka property, and the checks of client-conf."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from cdcsink.kafka.confluent.config import BREAKS_ORDERING, SET_BY_SETTINGS, client_conf_problems, librdkafka_config
from cdcsink.kafka.options import KafkaOptions, SecurityOptions


def conf(role="rows", **options) -> dict:
    return librdkafka_config(KafkaOptions(brokers=["k1:9092", "k2:9093"], **options), role)


def test_brokers_and_client_id():
    c = conf(client_id="cdcsink-orders")
    assert c["bootstrap.servers"] == "k1:9092,k2:9093" and c["client.id"] == "cdcsink-orders"


def test_required_acks_all():
    assert conf(required_acks=-1)["acks"] == "all"
    assert conf("control", required_acks=-1)["acks"] == "all"


@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_compression(compression):
    assert conf(compression=compression)["compression.type"] == compression
    assert conf("control", compression=compression)["compression.type"] == compression


def test_max_message_bytes_caps_a_message_and_a_batch():
    c = conf(max_message_bytes=600_000)
    assert c["message.max.bytes"] == 600_000 and c["batch.size"] == 600_000 - 61
    big = conf(max_message_bytes=10 * 1024 * 1024)
    assert big["message.max.bytes"] == 10 * 1024 * 1024 and big["batch.size"] == 1_000_000


def test_dial_timeout_bounds_connection_set_up():
    assert conf(dial_timeout=3.0)["socket.connection.setup.timeout.ms"] == 3000
    assert conf(dial_timeout=0.2)["socket.connection.setup.timeout.ms"] == 1000  # librdkafka's floor


def test_read_and_write_timeout_bound_requests():
    c = conf(read_timeout=4.0, write_timeout=7.0)
    assert c["socket.timeout.ms"] == 7000 and c["request.timeout.ms"] == 7000
    assert conf("control", read_timeout=4.0, write_timeout=2.0)["message.timeout.ms"] == 4000


def test_tls_files_and_verification():
    c = conf(security=SecurityOptions(tls=True, ca="/ca.pem", cert="/c.pem", key="/k.pem"))
    assert c["security.protocol"] == "ssl"
    assert (c["ssl.ca.location"], c["ssl.certificate.location"], c["ssl.key.location"]) == ("/ca.pem", "/c.pem", "/k.pem")
    assert c["ssl.endpoint.identification.algorithm"] == "https" and "enable.ssl.certificate.verification" not in c
    system = conf(security=SecurityOptions(tls=True))
    assert system["ssl.ca.location"] == "probe" and "ssl.certificate.location" not in system
    skip = conf(security=SecurityOptions(tls=True, insecure_skip_verify=True))
    assert skip["enable.ssl.certificate.verification"] is False and skip["ssl.endpoint.identification.algorithm"] == "none"


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_user_and_password(mechanism):
    c = conf(security=SecurityOptions(sasl_mechanism=mechanism, sasl_user="alice", sasl_password="s3cret"))
    assert c["security.protocol"] == "sasl_plaintext" and c["sasl.mechanisms"] == mechanism
    assert (c["sasl.username"], c["sasl.password"]) == ("alice", "s3cret")
    assert conf(security=SecurityOptions(tls=True, sasl_mechanism=mechanism, sasl_user="a", sasl_password="b"))["security.protocol"] == "sasl_ssl"


def test_sasl_oauthbearer_takes_its_token_from_the_callback():
    c = conf(security=SecurityOptions(sasl_mechanism="OAUTHBEARER", oauth_token_file="/token"))
    assert c["sasl.mechanisms"] == "OAUTHBEARER" and "sasl.username" not in c


def test_the_row_producer_is_idempotent_ordered_and_never_times_a_message_out():
    c = conf()
    assert c["enable.idempotence"] is True and c["enable.gapless.guarantee"] is True
    assert c["max.in.flight.requests.per.connection"] == 5 and c["message.timeout.ms"] == 0
    assert c["statistics.interval.ms"] > 0


def test_the_control_producer_and_the_admin_client():
    control = conf("control")
    assert control["enable.idempotence"] is False and control["linger.ms"] == 0
    assert "statistics.interval.ms" not in control
    admin = conf("admin")
    assert "acks" not in admin and "enable.idempotence" not in admin and "statistics.interval.ms" not in admin


def test_client_conf_goes_over_cdcsinks_choices():
    c = conf(client_conf={"linger.ms": "20", "statistics.interval.ms": "0"})
    assert c["linger.ms"] == "20" and c["statistics.interval.ms"] == "0"
    assert conf("control", client_conf={"linger.ms": "20", "statistics.interval.ms": "1000"})["linger.ms"] == "20"
    assert "statistics.interval.ms" not in conf("control", client_conf={"statistics.interval.ms": "1000"})


@pytest.mark.parametrize("role", ["admin", "rows", "control"])
def test_librdkafka_accepts_every_handle_it_is_given(role):
    security = SecurityOptions(sasl_mechanism="SCRAM-SHA-512", sasl_user="a", sasl_password="b")
    c = conf(role, security=security, compression="zstd", client_conf={"linger.ms": "5"})
    (AdminClient if role == "admin" else Producer)(c)  # raises on a property librdkafka refuses


# -- client-conf ---------------------------------------------------------------------------


def test_a_good_client_conf_has_no_problem():
    assert client_conf_problems({"linger.ms": 10, "batch.num.messages": "5000", "socket.keepalive.enable": True, "debug": "broker"}) == []


def test_an_unknown_property_is_named():
    assert client_conf_problems({"linger.msec": 5}) == ["linger.msec: not a librdkafka property"]


def test_a_bad_value_is_named_by_the_key_given():
    (problem,) = client_conf_problems({"linger.ms": "soon"})
    assert problem.startswith("linger.ms: invalid value 'soon'")


def test_a_consumer_property_is_refused():
    (problem,) = client_conf_problems({"group.id": "g"})
    assert problem.startswith("group.id: ") and "consumer property" in problem


def test_properties_that_are_fine_alone_but_not_together_name_the_keys():
    (problem,) = client_conf_problems({"max.in.flight.requests.per.connection": 6})
    assert problem.startswith("max.in.flight.requests.per.connection: ") and "enable.idempotence" in problem


@pytest.mark.parametrize("key", sorted(SET_BY_SETTINGS))
def test_a_property_a_setting_gives_is_refused_naming_the_setting(key):
    (problem,) = client_conf_problems({key: "x"})
    assert problem == f"{key}: set by {SET_BY_SETTINGS[key]}; give that instead"


@pytest.mark.parametrize("key", sorted(BREAKS_ORDERING))
def test_a_property_that_would_break_ordering_is_refused_with_why(key):
    (problem,) = client_conf_problems({key: "false"})
    assert problem.startswith(f"{key}: refused: ")


def test_every_problem_is_reported_at_once():
    problems = client_conf_problems({"enable.idempotence": False, "linger.msec": 1, "acks": 1, "linger.ms": 3})
    assert [p.split(":")[0] for p in problems] == ["enable.idempotence", "linger.msec", "acks"]


# -- the settings --------------------------------------------------------------------------


def load(tmp_path, monkeypatch, sink_yaml: str, **env: str):
    from cdcsink.config import load_settings

    for name in [n for n in __import__("os").environ if n.startswith("CDCSINK_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "cdcsink.yaml"
    path.write_text("source:\n  path: /dev/null\nsink:\n  uri: kafka://k:9092/t?protocol=canal-json\n" + sink_yaml)
    return load_settings(path)


def test_client_conf_from_yaml_and_env(tmp_path, monkeypatch):
    settings = load(tmp_path, monkeypatch, "  kafka-client: confluent\n  client-conf:\n    linger.ms: 7\n    socket.keepalive.enable: true\n")
    assert settings.sink.client_conf == {"linger.ms": 7, "socket.keepalive.enable": True}
    from cdcsink.pipeline import kafka_options

    assert kafka_options(settings).client_conf == {"linger.ms": "7", "socket.keepalive.enable": "true"}
    settings = load(tmp_path, monkeypatch, "  kafka-client: confluent\n", CDCSINK_SINK__CLIENT_CONF='{"linger.ms": 9}')
    assert settings.sink.client_conf == {"linger.ms": 9}


def test_client_conf_problems_name_the_file_line_and_key(tmp_path, monkeypatch):
    from cdcsink.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load(tmp_path, monkeypatch, "  kafka-client: confluent\n  client-conf:\n    linger.ms: soon\n    enable.idempotence: false\n")
    lines = str(info.value).splitlines()
    assert lines[0].startswith("cdcsink.yaml:6: sink.client-conf: linger.ms: invalid value 'soon'".replace("cdcsink.yaml", str(tmp_path / "cdcsink.yaml")))
    assert lines[1].startswith(f"{tmp_path / 'cdcsink.yaml'}:6: sink.client-conf: enable.idempotence: refused: ")


def test_client_conf_is_for_the_confluent_client_only(tmp_path, monkeypatch):
    from cdcsink.errors import ConfigError

    with pytest.raises(ConfigError, match="sink.client-conf: librdkafka properties, for kafka-client=confluent only"):
        load(tmp_path, monkeypatch, "  client-conf:\n    linger.ms: 7\n")
    with pytest.raises(ConfigError, match="takes a JSON object"):
        load(tmp_path, monkeypatch, "  kafka-client: confluent\n", CDCSINK_SINK__CLIENT_CONF="linger.ms=9")
    with pytest.raises(ConfigError, match="unknown parameter 'client-conf'"):
        load(tmp_path, monkeypatch, "  kafka-client: confluent\n", CDCSINK_SINK__URI="kafka://k:9092/t?protocol=canal-json&client-conf=x")


def test_the_confluent_client_needs_acks_from_all_replicas(tmp_path, monkeypatch):
    from cdcsink.errors import ConfigError

    with pytest.raises(ConfigError, match="sink.required-acks: kafka-client=confluent needs -1"):
        load(tmp_path, monkeypatch, "  kafka-client: confluent\n  required-acks: 1\n")


def test_choosing_confluent_without_the_package_names_the_extra(tmp_path, monkeypatch):
    import builtins

    from cdcsink.errors import ConfigError

    real_import = builtins.__import__

    def without_confluent(name, *args, **kwargs):
        if name == "confluent_kafka" or name.startswith("confluent_kafka."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_confluent)
    with pytest.raises(ConfigError, match=r"sink.kafka-client: kafka-client=confluent needs the confluent-kafka package: pip install 'cdcsink\[confluent\]'"):
        load(tmp_path, monkeypatch, "  kafka-client: confluent\n")
