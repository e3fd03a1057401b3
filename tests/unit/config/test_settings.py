import pytest

from cdcsink.config import load_settings
from cdcsink.errors import ConfigError

BASE = """\
source:
  type: file
  path: /data/events.ndjson
  follow: false
sink:
  uri: kafka://127.0.0.1:9092,127.0.0.2:9093/cdc-default?protocol=canal-json&partition-num=3&replication-factor=1&enable-tidb-extension=true
  dispatchers:
    - matcher: ["shop.*"]
      topic: "{schema}_{table}"
      partition: index-value
checkpoint:
  store: file:///var/lib/cdcsink/checkpoint.json
  interval: 1s
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("CDCSINK_"):
            monkeypatch.delenv(name)


def write(tmp_path, text):
    path = tmp_path / "cdcsink.yaml"
    path.write_text(text)
    return path


def test_issue_example_config_loads(tmp_path):
    s = load_settings(write(tmp_path, BASE))
    assert s.sink.brokers == ["127.0.0.1:9092", "127.0.0.2:9093"] and s.sink.topic == "cdc-default"
    assert s.sink.protocol == "canal-json" and s.sink.partition_num == 3 and s.sink.enable_tidb_extension is True
    assert s.sink.dispatchers[0].partition == "index-value"
    assert s.source.path == ["/data/events.ndjson"] and s.checkpoint.interval == 1.0


def test_keys_under_sink_and_uri_precedence(tmp_path):
    text = BASE.replace("  dispatchers:", "  partition-num: 9\n  max_message_bytes: 2048\n  compression: lz4\n  dispatchers:")
    s = load_settings(write(tmp_path, text))
    assert s.sink.partition_num == 3  # the URI value wins
    assert s.sink.max_message_bytes == 2048 and s.sink.compression == "lz4"


def test_env_beats_yaml(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCSINK_CHECKPOINT__INTERVAL", "250ms")
    monkeypatch.setenv("CDCSINK_SINK__COMPRESSION", "zstd")
    s = load_settings(write(tmp_path, BASE))
    assert s.checkpoint.interval == 0.25 and s.sink.compression == "zstd"


def test_env_only(monkeypatch):
    monkeypatch.setenv("CDCSINK_SINK__URI", "kafka://k:9092/t?protocol=open-protocol")
    monkeypatch.setenv("CDCSINK_SOURCE__TYPE", "stdin")
    s = load_settings(None)
    assert s.sink.protocol == "open-protocol" and s.source.type == "stdin"


@pytest.mark.parametrize(
    "change, message",
    [
        (("partition-num=3", "partition-num=three"), r"cdcsink.yaml:6: sink.partition-num: .*integer"),
        (("&replication-factor=1", "&bogus=1"), r"cdcsink.yaml:6: sink.uri: unknown parameter 'bogus'"),
        (("protocol=canal-json&", ""), r"cdcsink.yaml:6: sink.protocol: required"),
        (("  follow: false", "  follow: false\n  folow: true"), r"cdcsink.yaml:5: source.folow: unknown key"),
        (("interval: 1s", "interval: soon"), r"cdcsink.yaml:13: checkpoint.interval: 'soon' is not a duration"),
        (("partition: index-value", "partition: random"), r"cdcsink.yaml:10: sink.dispatchers\[0\].partition: "),
        (("kafka://", "http://"), r"cdcsink.yaml:6: sink.uri: scheme must be kafka://"),
    ],
)
def test_invalid_values_name_file_line_and_key(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(write(tmp_path, BASE.replace(*change)))
    assert "\n" not in str(info.value)


def test_bad_env_value_names_the_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCSINK_SINK__MAX_RETRY", "-1")
    with pytest.raises(ConfigError, match=r"env CDCSINK_SINK__MAX_RETRY: sink.max-retry"):
        load_settings(write(tmp_path, BASE))


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"cdcsink.yaml:3: invalid YAML"):
        load_settings(write(tmp_path, "sink:\n  uri: [unclosed\n"))
    with pytest.raises(ConfigError, match="No such file"):
        load_settings(tmp_path / "missing.yaml")


def test_required_acks_zero_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="required-acks: 0 is not allowed"):
        load_settings(write(tmp_path, BASE.replace("protocol=canal-json", "protocol=canal-json&required-acks=0")))


@pytest.mark.parametrize(
    "query, expected",
    [
        ("protocol=canal-json&max-message-bytes=big", r"^env CDCSINK_SINK__URI: sink.max-message-bytes: .*integer"),
        ("protocol=nope", r"^env CDCSINK_SINK__URI: sink.protocol: "),
        ("protocol=canal-json&bogus=1", r"^env CDCSINK_SINK__URI: sink.uri: unknown parameter 'bogus'"),
        # Never the last one silently winning.
        ("protocol=canal-json&partition-num=2&partition-num=3", r"sink.uri: parameter 'partition-num' given twice"),
    ],
)
def test_a_bad_uri_parameter_from_env_names_the_env_var(monkeypatch, query, expected):
    monkeypatch.setenv("CDCSINK_SINK__URI", f"kafka://k:9092/t?{query}")
    monkeypatch.setenv("CDCSINK_SOURCE__PATH", "/a.ndjson")
    with pytest.raises(ConfigError, match=expected):
        load_settings(None)


def test_list_and_complex_values_from_env(monkeypatch):
    monkeypatch.setenv("CDCSINK_SINK__URI", "kafka://k:9092/t?protocol=canal-json")
    monkeypatch.setenv("CDCSINK_SOURCE__PATH", "/a.ndjson,/b/*.ndjson")
    assert load_settings(None).source.path == ["/a.ndjson", "/b/*.ndjson"]
    monkeypatch.setenv("CDCSINK_SINK__DISPATCHERS", '[{"matcher": ["shop.*"], "partition": "ts"}]')
    assert load_settings(None).sink.dispatchers[0].partition == "ts"
    monkeypatch.setenv("CDCSINK_SINK__DISPATCHERS", "not json")
    with pytest.raises(ConfigError, match="^env: error parsing value for field \"sink\""):
        load_settings(None)


def test_secret_from_file_is_used_and_masked(tmp_path, monkeypatch):
    from cdcsink.config import show_config

    secret = tmp_path / "uri"
    secret.write_text("kafka://k:9092/t?protocol=canal-json&sasl-password=hunter2\n")
    monkeypatch.setenv("CDCSINK_SINK__URI_FILE", str(secret))
    monkeypatch.setenv("CDCSINK_SOURCE__TYPE", "stdin")
    with pytest.raises(ConfigError, match="sasl-mechanism: required with sasl-user/sasl-password"):
        load_settings(None)  # read from the file, and checked
    secret.write_text("kafka://k:9092/t-from-file?protocol=canal-json\n")
    assert load_settings(None).sink.topic == "t-from-file"
    shown = show_config(None)
    assert "t-from-file" not in shown and "sink.uri = '****'  # env CDCSINK_SINK__URI_FILE (secret, masked)" in shown


def test_uri_secrets_are_masked(tmp_path, monkeypatch):
    from cdcsink.config import _mask_uri

    assert _mask_uri("kafka://u:pw@h:1/t?a=1&sasl-password=x&b=2") == "kafka://u:****@h:1/t?a=1&sasl-password=****&b=2"


def test_a_sasl_password_from_a_file_is_used_and_masked(tmp_path, monkeypatch):
    from cdcsink.config import show_config

    secret = tmp_path / "password"
    secret.write_text("hunter2\n")
    monkeypatch.setenv("CDCSINK_SINK__URI", "kafka://k:9092/t?protocol=canal-json&sasl-mechanism=scram-sha-256&sasl-user=alice")
    monkeypatch.setenv("CDCSINK_SINK__SASL_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("CDCSINK_SOURCE__TYPE", "stdin")
    sink = load_settings(None).sink
    assert sink.sasl_password == "hunter2" and sink.sasl_mechanism == "SCRAM-SHA-256"
    shown = show_config(None)
    assert "hunter2" not in shown and "sink.sasl-password = '****'" in shown


def test_a_key_whose_name_ends_in_file_is_set_from_env_directly(tmp_path, monkeypatch):
    from cdcsink.config import show_config

    token = tmp_path / "token"
    token.write_text("tok\n")
    monkeypatch.setenv("CDCSINK_SINK__URI", "kafka://k:9092/t?protocol=canal-json&sasl-mechanism=OAUTHBEARER")
    monkeypatch.setenv("CDCSINK_SINK__SASL_OAUTH_TOKEN_FILE", str(token))
    monkeypatch.setenv("CDCSINK_SOURCE__TYPE", "stdin")
    assert load_settings(None).sink.sasl_oauth_token_file == str(token)
    # A path to a secret is not a secret: shown, in the key and in the URI.
    assert f"sink.sasl-oauth-token-file = '{token}'  # env CDCSINK_SINK__SASL_OAUTH_TOKEN_FILE" in show_config(None)
    from cdcsink.config import _mask_uri

    assert _mask_uri(f"kafka://h:1/t?sasl-oauth-token-file={token}&sasl-password=x") == (
        f"kafka://h:1/t?sasl-oauth-token-file={token}&sasl-password=****"
    )


def test_the_config_file_comes_from_cdcsink_config_else_the_container_path(tmp_path, monkeypatch):
    import cdcsink.config as config

    path = write(tmp_path, BASE)
    monkeypatch.setenv("CDCSINK_CONFIG", str(path))
    assert load_settings(None).sink.topic == "cdc-default"
    monkeypatch.delenv("CDCSINK_CONFIG")
    mounted = tmp_path / "etc" / "cdcsink.yaml"
    mounted.parent.mkdir()
    mounted.write_text(BASE.replace("cdc-default", "from-etc"))
    monkeypatch.setattr(config, "DEFAULT_CONFIG", mounted)
    assert load_settings(None).sink.topic == "from-etc"


def test_config_show_names_where_each_value_came_from(tmp_path, monkeypatch):
    from cdcsink.config import show_config

    monkeypatch.setenv("CDCSINK_SINK__COMPRESSION", "zstd")
    path = write(tmp_path, BASE)
    shown = {line.split(" = ", 1)[0]: line for line in show_config(path).splitlines()}
    assert shown["sink.partition-num"] == "sink.partition-num = 3  # sink.uri"
    assert shown["checkpoint.interval"] == f"checkpoint.interval = 1.0  # {path}:13"
    assert shown["sink.compression"] == "sink.compression = 'zstd'  # env CDCSINK_SINK__COMPRESSION"
    assert shown["sink.max-retry"] == "sink.max-retry = 5  # default"
