import pytest

from cdcsink.codec.registry import build_encoder
from cdcsink.codec.common.ddl_kind import classify
from cdcsink.codec.common.mysql_types import type_info
from cdcsink.codec.options import EncoderOptions
from cdcsink.errors import ConfigError


@pytest.mark.parametrize(
    "sql_type, code, java, flags",
    [
        ("bigint", 8, -5, 0), ("bigint unsigned", 8, -5, 128), ("int(11)", 3, 4, 0), ("tinyint(1)", 1, -6, 0),
        ("decimal(10,2)", 246, 3, 0), ("varchar(64)", 15, 12, 0), ("char(10)", 254, 1, 0), ("binary(16)", 254, 2004, 1),
        ("varbinary(10)", 15, 2004, 1), ("text", 252, 2005, 0), ("blob", 252, 2004, 1), ("longtext", 251, 2005, 0),
        ("datetime(6)", 12, 93, 0), ("timestamp", 7, 93, 0), ("date", 10, 91, 0), ("time", 11, 92, 0),
        ("year", 13, 12, 0), ("json", 245, 12, 0), ("enum('a','b')", 247, 4, 0), ("set('a')", 248, -7, 0),
        ("bit(8)", 16, -7, 0), ("float", 4, 7, 0), ("double", 5, 8, 0), ("geography_v2", 15, 12, 0),
    ],
)
def test_type_mapping(sql_type, code, java, flags):
    info = type_info(sql_type)
    assert (info.mysql_code, info.java_type, info.flags) == (code, java, flags)


@pytest.mark.parametrize(
    "query, canal, action",
    [
        ("CREATE TABLE t (id INT)", "CREATE", 3), ("drop table t", "ERASE", 4), ("CREATE DATABASE d", "QUERY", 1),
        ("ALTER TABLE t ADD COLUMN c INT", "ALTER", 5), ("ALTER TABLE t DROP COLUMN c", "ALTER", 6),
        ("ALTER TABLE t ADD INDEX i (c)", "CINDEX", 7), ("CREATE UNIQUE INDEX i ON t (c)", "CINDEX", 7),
        ("ALTER TABLE t DROP INDEX i", "DINDEX", 8), ("TRUNCATE TABLE t", "TRUNCATE", 11),
        ("RENAME TABLE a TO b", "RENAME", 14), ("ALTER TABLE t MODIFY c BIGINT", "ALTER", 12),
        ("/* x */ alter   table t comment 'y'", "ALTER", 12), ("GRANT ALL ON *.* TO u", "QUERY", 0),
    ],
)
def test_ddl_classifier(query, canal, action):
    assert classify(query) == (canal, action)


def test_unknown_protocol():
    with pytest.raises(ConfigError, match="unsupported protocol 'avro'"):
        build_encoder(EncoderOptions(protocol="avro"))
