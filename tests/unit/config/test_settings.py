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


def test_keys_under_sink_and_uri_parameters_are_one_setting(tmp_path):
    text = BASE.replace("  dispatchers:", "  partition-num: 3\n  max_message_bytes: 2048\n  compression: lz4\n  dispatchers:")
    s = load_settings(write(tmp_path, text))
    assert s.sink.partition_num == 3  # the same value both ways: fine
    assert s.sink.max_message_bytes == 2048 and s.sink.compression == "lz4"


def test_a_uri_parameter_and_a_key_that_disagree_in_the_file_are_an_error(tmp_path):
    text = BASE.replace("  dispatchers:", "  partition-num: 9\n  dispatchers:")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert str(info.value) == (
        f"{tmp_path}/cdcsink.yaml:7: sink.partition-num: 9 here, but partition-num=3 in sink.uri "
        f"({tmp_path}/cdcsink.yaml:6); give it once"
    )


def test_a_uri_parameter_and_a_key_that_disagree_in_env_are_an_error(monkeypatch):
    monkeypatch.setenv("CDCSINK_SINK__URI", "kafka://k:9092/t?protocol=canal-json&sasl-password=a")
    monkeypatch.setenv("CDCSINK_SINK__PROTOCOL", "open-protocol")
    monkeypatch.setenv("CDCSINK_SINK__SASL_PASSWORD", "b")
    monkeypatch.setenv("CDCSINK_SOURCE__TYPE", "stdin")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    lines = str(info.value).splitlines()
    assert "env CDCSINK_SINK__PROTOCOL: sink.protocol: 'open-protocol' here, but protocol=canal-json in sink.uri (env CDCSINK_SINK__URI); give it once" in lines
    # Secrets are masked in the message too.
    assert "env CDCSINK_SINK__SASL_PASSWORD: sink.sasl-password: '****' here, but sasl-password=**** in sink.uri (env CDCSINK_SINK__URI); give it once" in lines


def test_env_beats_a_uri_parameter_written_in_the_file(tmp_path, monkeypatch):
    from cdcsink.config import show_config

    path = write(tmp_path, BASE)
    monkeypatch.setenv("CDCSINK_SINK__PROTOCOL", "open-protocol")
    assert load_settings(path).sink.protocol == "open-protocol"
    shown = {line.split(" = ", 1)[0]: line for line in show_config(path).splitlines()}
    assert shown["sink.protocol"] == (
        f"sink.protocol = 'open-protocol'  # env CDCSINK_SINK__PROTOCOL, over {path}:6 (sink.uri parameter)"
    )


def test_a_uri_parameter_from_env_beats_a_key_in_the_file_and_the_files_other_parameters_stay(tmp_path, monkeypatch):
    from cdcsink.config import show_config

    path = write(tmp_path, BASE.replace("  dispatchers:", "  compression: lz4\n  dispatchers:"))
    monkeypatch.setenv("CDCSINK_SINK__URI", "kafka://other:9092/t2?compression=zstd")
    s = load_settings(path)
    assert s.sink.brokers == ["other:9092"] and s.sink.topic == "t2" and s.sink.compression == "zstd"
    # A parameter is a setting of the place it is written: the file's protocol still applies.
    assert s.sink.protocol == "canal-json" and s.sink.partition_num == 3
    shown = {line.split(" = ", 1)[0]: line for line in show_config(path).splitlines()}
    assert shown["sink.uri"] == f"sink.uri = 'kafka://other:9092/t2'  # env CDCSINK_SINK__URI, over {path}:6"
    assert shown["sink.compression"] == f"sink.compression = 'zstd'  # env CDCSINK_SINK__URI (sink.uri parameter), over {path}:7"
    assert shown["sink.protocol"] == f"sink.protocol = 'canal-json'  # {path}:6 (sink.uri parameter)"


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
        (("partition-num=3", "partition-num=three"), r"cdcsink.yaml:6: sink.partition-num \(sink.uri parameter\): .*integer"),
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
    with pytest.raises(ConfigError, match=r"cdcsink.yaml:6: sink.required-acks \(sink.uri parameter\): 0 is not allowed"):
        load_settings(write(tmp_path, BASE.replace("protocol=canal-json", "protocol=canal-json&required-acks=0")))


@pytest.mark.parametrize(
    "query, expected",
    [
        ("protocol=canal-json&max-message-bytes=big", r"^env CDCSINK_SINK__URI: sink.max-message-bytes \(sink.uri parameter\): .*integer"),
        ("protocol=nope", r"^env CDCSINK_SINK__URI: sink.protocol \(sink.uri parameter\): "),
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
    monkeypatch.setenv("CDCSINK_SINK__DISPATCHERS", '[{"matcher": ')
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert str(info.value).startswith("env CDCSINK_SINK__DISPATCHERS: sink.dispatchers takes a JSON list")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ('["/in/a,b.ndjson", "/in/*.ndjson"]', ["/in/a,b.ndjson", "/in/*.ndjson"]),  # a JSON list: items may hold commas
        (' [ "/a.ndjson" ] ', ["/a.ndjson"]),
        ("/a.ndjson, /b.ndjson", ["/a.ndjson", "/b.ndjson"]),  # comma-separated text
        ("/in/[0-9]*.ndjson", ["/in/[0-9]*.ndjson"]),
        ("[0-9]*.ndjson", ["[0-9]*.ndjson"]),  # a glob, not a JSON list
    ],
)
def test_a_list_setting_from_env_takes_a_json_list_or_comma_separated_text(monkeypatch, text, expected):
    monkeypatch.setenv("CDCSINK_SINK__URI", "kafka://k:9092/t?protocol=canal-json")
    monkeypatch.setenv("CDCSINK_SOURCE__PATH", text)
    assert load_settings(None).source.path == expected


def test_a_list_setting_written_as_a_yaml_string_reads_the_same(tmp_path):
    config = tmp_path / "cdcsink.yaml"
    config.write_text("""source:\n  path: '["/in/a,b.ndjson", "/in/c.ndjson"]'\nsink:\n  uri: kafka://k:9092/t?protocol=canal-json\n""")
    assert load_settings(str(config)).source.path == ["/in/a,b.ndjson", "/in/c.ndjson"]
    config.write_text("source:\n  path: /in/a.ndjson, /in/c.ndjson\nsink:\n  uri: kafka://k:9092/t?protocol=canal-json\n")
    assert load_settings(str(config)).source.path == ["/in/a.ndjson", "/in/c.ndjson"]


def test_every_text_list_setting_reads_both_forms(monkeypatch):
    monkeypatch.setenv("CDCSINK_SINK__URI", "kafka://k:9092/t?protocol=canal-json")
    monkeypatch.setenv("CDCSINK_SOURCE__TYPE", "kafka")
    monkeypatch.setenv("CDCSINK_SOURCE__GROUP", "g")
    monkeypatch.setenv("CDCSINK_SOURCE__BOOTSTRAP", '["k1:9092", "k2:9092"]')
    monkeypatch.setenv("CDCSINK_SOURCE__TOPICS", "orders, users")
    source = load_settings(None).source
    assert (source.bootstrap, source.topics) == (["k1:9092", "k2:9092"], ["orders", "users"])
    monkeypatch.setenv("CDCSINK_SOURCE__BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("CDCSINK_SOURCE__TOPICS", '["orders", "users"]')
    source = load_settings(None).source
    assert (source.bootstrap, source.topics) == (["k1:9092", "k2:9092"], ["orders", "users"])
    for text in ('["shop.orders", "shop.users"]', "shop.orders, shop.users"):
        monkeypatch.setenv("CDCSINK_SOURCE__TABLES", text)
        assert load_settings(None).source.tables == ["shop.orders", "shop.users"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ('["/a.ndjson", ', "env CDCSINK_SOURCE__PATH: source.path: not a JSON list (Expecting value: line 1 column 15 (char 14)): "
                           "give a JSON list of strings or comma-separated text"),
        ("[1]", "env CDCSINK_SOURCE__PATH: source.path[0]: Input should be a valid string"),
    ],
)
def test_a_broken_json_list_from_env_is_refused_not_split_on_commas(monkeypatch, text, expected):
    monkeypatch.setenv("CDCSINK_SINK__URI", "kafka://k:9092/t?protocol=canal-json")
    monkeypatch.setenv("CDCSINK_SOURCE__PATH", text)
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert str(info.value) == expected


def test_a_setting_with_fixed_choices_takes_them_in_any_case(monkeypatch, tmp_path):
    monkeypatch.setenv("CDCSINK_SINK__URI", "kafka://k:9092/t?protocol=Canal-JSON&compression=ZSTD")
    monkeypatch.setenv("CDCSINK_LOG__FORMAT", "JSON")
    monkeypatch.setenv("CDCSINK_LOG__LEVEL", "Warning")
    monkeypatch.setenv("CDCSINK_SOURCE__TYPE", "STDIN")
    monkeypatch.setenv("CDCSINK_SINK__DISPATCHERS", '[{"matcher": ["*.*"], "partition": "Index-Value"}]')
    settings = load_settings(None)
    assert (settings.log.format, settings.log.level, settings.source.type) == ("json", "warning", "stdin")
    assert (settings.sink.protocol, settings.sink.compression) == ("canal-json", "zstd")
    assert settings.sink.dispatchers[0].partition == "index-value"
    monkeypatch.delenv("CDCSINK_LOG__FORMAT")
    config = tmp_path / "cdcsink.yaml"
    config.write_text("log:\n  format: Json\nsource:\n  on-invalid: Dead-Letter\n")
    settings = load_settings(str(config))
    assert (settings.log.format, settings.source.on_invalid) == ("json", "dead-letter")
    monkeypatch.setenv("CDCSINK_LOG__LEVEL", "loud")
    with pytest.raises(ConfigError, match="^env CDCSINK_LOG__LEVEL: log.level: Input should be 'debug', 'info', 'warning' or 'error'$"):
        load_settings(str(config))


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
    assert shown["sink.partition-num"] == f"sink.partition-num = 3  # {path}:6 (sink.uri parameter)"
    assert shown["checkpoint.interval"] == f"checkpoint.interval = 1.0  # {path}:13"
    assert shown["sink.compression"] == "sink.compression = 'zstd'  # env CDCSINK_SINK__COMPRESSION"
    assert shown["sink.max-retry"] == "sink.max-retry = 5  # default"


# -- env vars: every CDCSINK_* variable is a setting, or an error naming it -----------


def test_a_lower_case_env_var_is_shown_as_its_origin(tmp_path, monkeypatch):
    from cdcsink.config import show_config

    path = write(tmp_path, BASE)
    monkeypatch.setenv("cdcsink_sink__compression", "gzip")
    assert load_settings(path).sink.compression == "gzip"
    shown = {line.split(" = ", 1)[0]: line for line in show_config(path).splitlines()}
    assert shown["sink.compression"] == "sink.compression = 'gzip'  # env cdcsink_sink__compression"


@pytest.mark.parametrize(
    "name, message",
    [
        ("CDCSINK_CHECKPOINT_STORE", "env CDCSINK_CHECKPOINT_STORE: not a cdcsink setting (did you mean CDCSINK_CHECKPOINT__STORE?)"),
        ("CDCSINK_SINK__PARTITON_NUM", "env CDCSINK_SINK__PARTITON_NUM: not a cdcsink setting (did you mean CDCSINK_SINK__PARTITION_NUM?)"),
        ("cdcsink_sink__partiton_num", "env cdcsink_sink__partiton_num: not a cdcsink setting (did you mean CDCSINK_SINK__PARTITION_NUM?)"),
        ("cdcsink_config", "env cdcsink_config: not a cdcsink setting (did you mean CDCSINK_CONFIG?)"),
        ("CDCSINK_SINK__SASL_PASWORD_FILE", "env CDCSINK_SINK__SASL_PASWORD_FILE: not a cdcsink setting (did you mean CDCSINK_SINK__SASL_PASSWORD?)"),
        ("CDCSINK_SINK", "env CDCSINK_SINK: names the section sink; set its keys one by one, as CDCSINK_SINK__<KEY>"),
        ("CDCSINK_XYZ", "env CDCSINK_XYZ: not a cdcsink setting"),
        (
            "CDCSINK_SERVICE_HOST",
            "env CDCSINK_SERVICE_HOST: not a cdcsink setting (set by Kubernetes for a Service named cdcsink: "
            "give the pod enableServiceLinks: false)",
        ),
    ],
)
def test_an_env_var_that_is_no_setting_is_an_error_naming_it(tmp_path, monkeypatch, name, message):
    monkeypatch.setenv(name, "x")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, BASE))
    assert str(info.value) == message


def test_variables_the_project_reads_are_not_settings_and_not_errors(tmp_path, monkeypatch):
    secret = tmp_path / "password"
    secret.write_text("pw\n")
    monkeypatch.setenv("CDCSINK_CONFIG", str(write(tmp_path, BASE)))
    monkeypatch.setenv("CDCSINK_TEST_BOOTSTRAP", "127.0.0.1:9092")
    monkeypatch.setenv("CDCSINK_BENCH_BOOTSTRAP", "127.0.0.1:9092")
    monkeypatch.setenv("CDCSINK_SOURCE__SASL_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("CDCSINK_SOURCE__SASL_USER", "u")
    monkeypatch.setenv("CDCSINK_SOURCE__SASL_MECHANISM", "PLAIN")
    assert load_settings(None).source.sasl_password == "pw"


def test_every_cdcsink_variable_named_in_the_project_is_accepted():
    """The daemon refuses unknown CDCSINK_* variables, so none that the project's
    own files set or document may be unknown to it."""
    import re
    from pathlib import Path

    from pydantic import BaseModel

    from cdcsink.config import Settings
    from cdcsink.configsources import NOT_SETTINGS, env_layer

    root = Path(__file__).resolve().parents[3]
    files = [p for d in ("cdcsink", "tests", "bench", "deploy", "config") for p in (root / d).rglob("*") if p.is_file()]
    for own in ("test_settings.py", "test_cli_errors.py"):  # their examples of mistakes
        files.remove(Path(__file__).resolve().with_name(own))
    files += [root / name for name in ("README.md", "Dockerfile", "Makefile")]
    names, mistakes = set(), set()
    for path in files:
        if path.suffix in (".py", ".md", ".yaml", ".yml", ".toml", "") or path.name == "Dockerfile":
            text = path.read_text(errors="replace")
            names.update(re.findall(r"\bCDCSINK_[A-Z0-9_]*[A-Z0-9]\b", text))
            mistakes.update(re.findall(r"env (CDCSINK_\w+): not a cdcsink setting", text))  # documented as refused
    names -= mistakes
    names.discard("CDCSINK_SECTION__KEY")  # a placeholder in deploy/README.md
    assert len(names) > 40 and NOT_SETTINGS <= names
    layer = env_layer({name: "/dev/null" for name in names - NOT_SETTINGS}, Settings)
    unknown = [p for p in layer.problems if "not a cdcsink setting" in p or "names the section" in p]
    assert not unknown


def test_the_same_setting_in_two_cases_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCSINK_SINK__COMPRESSION", "gzip")
    monkeypatch.setenv("cdcsink_sink__compression", "gzip")
    with pytest.raises(ConfigError, match=r"^env cdcsink_sink__compression: sink.compression is also set by env CDCSINK_SINK__COMPRESSION; set it once$"):
        load_settings(write(tmp_path, BASE))


def test_the_same_setting_from_two_env_vars_is_an_error(tmp_path, monkeypatch):
    secret = tmp_path / "uri"
    secret.write_text("kafka://k:9092/t?protocol=canal-json\n")
    monkeypatch.setenv("CDCSINK_SINK__URI", "kafka://k:9092/t?protocol=canal-json")
    monkeypatch.setenv("CDCSINK_SINK__URI_FILE", str(secret))
    monkeypatch.setenv("CDCSINK_SOURCE__TYPE", "stdin")
    with pytest.raises(ConfigError, match=r"^env CDCSINK_SINK__URI_FILE: sink.uri is also set by env CDCSINK_SINK__URI; set it once$"):
        load_settings(None)


# -- errors: every problem at once, each where it was written -------------------------


def test_every_problem_is_listed_each_on_its_own_line_naming_where(tmp_path, monkeypatch):
    text = (
        BASE.replace("partition-num=3", "partition-num=three")
        .replace("  follow: false", "  follow: perhaps")
        .replace("interval: 1s", "interval: soon")
        .replace("partition: index-value", "partition: columns")
    )
    path = write(tmp_path, text)
    monkeypatch.setenv("CDCSINK_SINK__MAX_RETRY", "-1")
    monkeypatch.setenv("CDCSINK_LOG__LEVLE", "debug")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    lines = str(info.value).splitlines()
    assert sorted(lines) == sorted([
        "env CDCSINK_LOG__LEVLE: not a cdcsink setting (did you mean CDCSINK_LOG__LEVEL?)",
        f"{path}:4: source.follow: Input should be a valid boolean, unable to interpret input",
        f"{path}:6: sink.partition-num (sink.uri parameter): Input should be a valid integer, unable to parse string as an integer",
        "env CDCSINK_SINK__MAX_RETRY: sink.max-retry: Input should be greater than or equal to 0",
        f"{path}:8: sink.dispatchers[0].columns: required (non-empty) when partition is columns",
        f"{path}:13: checkpoint.interval: 'soon' is not a duration such as 500ms, 1s or 2m",
    ])


def test_a_dispatcher_problem_is_reported_at_the_dispatchers_own_line(tmp_path, monkeypatch):
    text = BASE.replace(
        '      partition: index-value\n',
        '      partition: index-value\n    - matcher: ["b.*"]\n      columns: [id]\n',
    )
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert str(info.value).endswith(
        "cdcsink.yaml:12: sink.dispatchers[1].columns: only used with partition: columns (this rule has partition: default)"
    )
    # The same from env: the variable is named, not the URI's.
    monkeypatch.setenv("CDCSINK_SINK__URI", "kafka://k:9092/t?protocol=canal-json")
    monkeypatch.setenv("CDCSINK_SINK__DISPATCHERS", '[{"matcher": ["a.*"], "partition": "columns"}]')
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, BASE))
    assert str(info.value) == "env CDCSINK_SINK__DISPATCHERS: sink.dispatchers[0].columns: required (non-empty) when partition is columns"


def test_no_configuration_at_all_says_how_to_give_one(monkeypatch, tmp_path):
    import cdcsink.config as config

    monkeypatch.setattr(config, "DEFAULT_CONFIG", tmp_path / "absent.yaml")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert str(info.value) == (
        "no configuration: pass --config FILE, set CDCSINK_CONFIG (or mount /etc/cdcsink/cdcsink.yaml), "
        "or set CDCSINK_SINK__URI and CDCSINK_SOURCE__PATH"
    )


@pytest.mark.parametrize(
    "change, line, key",
    [
        (("  dispatchers:", "  write-timeout: 0s\n  dispatchers:"), 7, "sink.write-timeout"),
        (("  dispatchers:", "  read-timeout: 0\n  dispatchers:"), 7, "sink.read-timeout"),
        (("  dispatchers:", "  dial-timeout: 0ms\n  dispatchers:"), 7, "sink.dial-timeout"),
        (("interval: 1s", "interval: 0s"), 13, "checkpoint.interval"),
        (("  follow: false", "  poll-interval: 0s"), 4, "source.poll-interval"),
        (("checkpoint:", "shutdown-timeout: 0s\ncheckpoint:"), 11, "shutdown-timeout"),
        (("checkpoint:", "ready-check-interval: 0s\ncheckpoint:"), 11, "ready-check-interval"),
        (("checkpoint:", "restart:\n  backoff-min: 0s\ncheckpoint:"), 12, "restart.backoff-min"),
    ],
)
def test_zero_timeouts_and_intervals_are_refused(tmp_path, change, line, key):
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, BASE.replace(*change)))
    assert str(info.value) == f"{tmp_path}/cdcsink.yaml:{line}: {key}: Input should be greater than 0"


def test_a_restart_backoff_max_below_the_min_is_refused(tmp_path):
    text = BASE + "restart:\n  backoff-min: 10s\n  backoff-max: 1s\n"
    with pytest.raises(ConfigError, match=r"cdcsink.yaml:16: restart.backoff-max: 1s is less than backoff-min \(10s\)"):
        load_settings(write(tmp_path, text))


# -- more mistakes, each one line naming where --------------------------------------


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "{path}: no settings in the file (sink.uri, and source.path for a file source, are needed)"),
        (b"# all commented out\n", "{path}: no settings in the file (sink.uri, and source.path for a file source, are needed)"),
        (b"sink:\n  uri: \"caf\xe9\"\n", "{path}:2: not UTF-8 text (byte 0xe9); save the config file as UTF-8"),
        (b"- a\n- b\n", "{path}:1: expected a mapping of sections (source, sink, checkpoint, ...), got a list"),
        (b"sink:\n\turi: x\n", "{path}:2: invalid YAML: found character '\\t' that cannot start any token"),
    ],
)
def test_a_file_that_is_no_config_is_one_line(tmp_path, content, message):
    path = tmp_path / "cdcsink.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == message.format(path=path)


def test_a_directory_as_config_file(tmp_path):
    with pytest.raises(ConfigError, match=rf"^{tmp_path}: is a directory, not a config file$"):
        load_settings(tmp_path)


@pytest.mark.parametrize(
    "change, message",
    [
        (("cdc-default?", "?"), "cdcsink.yaml:6: sink.uri: no default topic: the path must name it (kafka://host:port/topic)"),
        (("127.0.0.2:9093", "127.0.0.2"), "cdcsink.yaml:6: sink.uri: broker '127.0.0.2' is not host:port"),
        (("127.0.0.2:9093", "127.0.0.2:notaport"), "cdcsink.yaml:6: sink.uri: broker '127.0.0.2:notaport': the port must be a number from 1 to 65535"),
        (("kafka://", "kafka://user:pw@"), "cdcsink.yaml:6: sink.uri: broker 'user:pw@127.0.0.1:9092': user:password@ is not supported (use sasl-user and sasl-password)"),
        (("cdc-default?", "bad%20topic?"), "cdcsink.yaml:6: sink.uri: default topic: topic 'bad topic' has characters Kafka does not allow (only A-Z a-z 0-9 . _ -)"),
        (("enable-tidb-extension=true", "enable-tidb-extension=true#x"), "cdcsink.yaml:6: sink.uri: '#x' is not part of a kafka URI (a topic name cannot hold '#')"),
        (("&replication-factor=1", "&partiton-num=1"), "cdcsink.yaml:6: sink.uri: unknown parameter 'partiton-num' (did you mean partition-num?)"),
        (("  follow: false", "  folow: false"), "cdcsink.yaml:4: source.folow: unknown key (did you mean follow?)"),
        (("checkpoint:", "checkpiont:"), "cdcsink.yaml:11: checkpiont: unknown key (did you mean checkpoint?)"),
        (("  store:", "  store: x\n  store:"), "cdcsink.yaml:13: checkpoint.store: given twice (also at line 12)"),
        (("  follow: false", "  follow: false\n  follow_: true"), None),
        (("source:\n  type: file\n  path: /data/events.ndjson\n  follow: false\n", "source: file\n"), "cdcsink.yaml:1: source: expected a mapping of keys, got a string"),
        (("  path: /data/events.ndjson", "  path: {a: 1}"), "cdcsink.yaml:3: source.path: Input should be a valid list"),
        (("  follow: false", "  dead-letter: 'a b'"), "cdcsink.yaml:4: source.dead-letter: topic 'a b' has characters Kafka does not allow (only A-Z a-z 0-9 . _ -) (a Kafka topic, or file:///path)"),
    ],
)
def test_typical_mistakes_are_one_line_each(tmp_path, change, message):
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, BASE.replace(*change)))
    if message is not None:
        assert str(info.value).splitlines()[0] == f"{tmp_path}/{message}"
    assert all(line.startswith(f"{tmp_path}/cdcsink.yaml:") for line in str(info.value).splitlines())


def test_a_kafka_source_bootstrap_address_is_checked(tmp_path):
    text = BASE.replace("  type: file\n  path: /data/events.ndjson\n  follow: false\n", "  type: kafka\n  bootstrap: in:9092,in2\n  topics: [in]\n  group: g\n")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert str(info.value) == f"{tmp_path}/cdcsink.yaml:3: source.bootstrap: 'in2' is not host:port"


def test_a_config_file_named_by_cdcsink_config_that_is_missing_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCSINK_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert str(info.value) == f"{tmp_path}/missing.yaml (named by env CDCSINK_CONFIG): cannot read the config file: No such file or directory"


SIMPLE = """\
source:
  type: file
  path: /data/events.ndjson
sink:
  uri: kafka://127.0.0.1:9092/cdc?protocol=simple{params}
"""


def test_simple_protocol_options_are_accepted(tmp_path):
    params = "&send-bootstrap-interval-in-sec=30&send-bootstrap-in-msg-count=5&send-bootstrap-to-all-partition=false&encoding-format=json"
    sink = load_settings(write(tmp_path, SIMPLE.format(params=params))).sink
    assert (sink.protocol, sink.send_bootstrap_interval_in_sec, sink.send_bootstrap_in_msg_count,
            sink.send_bootstrap_to_all_partition) == ("simple", 30, 5, False)
    assert (load_settings(write(tmp_path, SIMPLE.format(params=""))).sink.send_bootstrap_interval_in_sec,
            load_settings(write(tmp_path, SIMPLE.format(params=""))).sink.send_bootstrap_in_msg_count) == (120, 10000)


@pytest.mark.parametrize(("params", "message"), [
    ("&encoding-format=avro", "sink.encoding-format (sink.uri parameter): 'avro' is not supported; cdcsink writes the simple protocol as json"),
    ("&send-bootstrap-interval-in-sec=0", "sink.send-bootstrap-interval-in-sec (sink.uri parameter): must be more than 0 with the simple protocol"),
    ("&send-bootstrap-in-msg-count=-1", "sink.send-bootstrap-in-msg-count (sink.uri parameter): must be more than 0 with the simple protocol"),
    ("&send-all-bootstrap-at-start=true", "sink.send-all-bootstrap-at-start (sink.uri parameter): not supported"),
    ("&enable-tidb-extension=true", "sink.enable-tidb-extension (sink.uri parameter): not used by protocol simple"),
    ("&content-compatible=true", "sink.content-compatible (sink.uri parameter): not used by protocol simple"),
    ("&only-output-updated-columns=true", "sink.only-output-updated-columns (sink.uri parameter): not used by protocol simple"),
    ("&delete-only-output-handle-key-columns=true", "sink.delete-only-output-handle-key-columns (sink.uri parameter): not used by protocol simple"),
    ("&max-batch-size=4", "sink.max-batch-size (sink.uri parameter): not used by protocol simple"),
])
def test_simple_protocol_refuses_what_does_not_apply_in_one_line(tmp_path, params, message):
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, SIMPLE.format(params=params)))
    (line,) = str(info.value).splitlines()
    assert message in line


def test_simple_options_set_with_another_protocol_are_refused(tmp_path):
    text = SIMPLE.format(params="&send-bootstrap-in-msg-count=5").replace("protocol=simple", "protocol=canal-json")
    with pytest.raises(ConfigError, match=r"sink.send-bootstrap-in-msg-count \(sink.uri parameter\): not used by protocol "
                                          r"canal-json \(TiCDC applies it to simple\)"):
        load_settings(write(tmp_path, text))
