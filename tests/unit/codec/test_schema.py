"""The table model: type strings and column objects parsed as MySQL/TiDB read them."""

import re

import pytest

from cdcsink.codec.schema import BLOB, DOUBLE, ENUM, LONG, STRING, TINY, VARCHAR, table_schema


def _column(spec, pk=False):
    return table_schema("s", "t", {"c": spec}, ["c"] if pk else []).columns[0]


@pytest.mark.parametrize(
    "declared, type_name, tp",
    [
        ("int(11)", "int", LONG), ("INT UNSIGNED", "int", LONG), ("bool", "tinyint", TINY), ("boolean", "tinyint", TINY),
        ("varchar(64)", "varchar", VARCHAR), ("varbinary(8)", "varbinary", VARCHAR), ("binary(16)", "binary", STRING),
        ("char(3) character set binary", "binary", STRING), ("text", "text", BLOB), ("blob", "blob", BLOB),
        ("float(30)", "double", DOUBLE), ("double precision", "double", DOUBLE), ("enum('a')", "enum", ENUM),
    ],
)
def test_type_names_are_tidbs(declared, type_name, tp):
    column = _column(declared)
    assert (column.type_name, column.tp) == (type_name, tp)


def test_attributes_from_the_type_string():
    column = _column("int(10) unsigned zerofill NOT NULL")
    assert (column.flen, column.unsigned, column.zerofill, column.nullable) == (10, True, True, False)
    assert column.full_type == "int(10) unsigned zerofill"
    assert _column("decimal(10,2)").decimal == 2
    assert _column("datetime(6)").decimal == 6
    assert _column("bigint", pk=True).nullable is False


def test_attributes_from_an_object():
    column = _column({"type": "varchar(64)", "charset": "binary", "nullable": False, "unique": True})
    assert (column.type_name, column.binary, column.nullable, column.unique_key) == ("varbinary", True, False, True)
    with pytest.raises(ValueError, match="column 'c': unknown attribute 'nullabel'"):
        _column({"type": "int", "nullabel": True})


def test_members_keep_case_and_quotes():
    assert _column("ENUM('A','b''c','x\\\\y')").elems == ("A", "b'c", "x\\y")
    assert _column("set('a', 'b')").elems == ("a", "b")


@pytest.mark.parametrize("declared", ["bigintt", "geography_v2", "", "enum", "varchar(x)"])
def test_unknown_or_unreadable_types_are_refused(declared):
    with pytest.raises(ValueError, match="column 'c'"):
        _column(declared)


@pytest.mark.parametrize(
    "declared, reason",
    [
        ("datetime(7)", "fractional seconds precision 7 is more than 6"),
        ("time(9)", "fractional seconds precision 9 is more than 6"),
        ("timestamp(10)", "fractional seconds precision 10 is more than 6"),
        ("decimal(66,0)", "precision 66 is more than 65"),
        ("decimal(40,31)", "scale 31 is more than 30"),
        ("decimal(5,6)", "scale 6 is more than the precision 5"),
        ("bit(65)", "bit(65): at most 64 bits"),
        ("bit(0)", "bit(0): at least 1 bit"),
    ],
)
def test_lengths_and_precisions_mysql_cannot_declare_are_refused(declared, reason):
    with pytest.raises(ValueError, match=rf"column 'c': .*{re.escape(reason)}"):
        _column(declared)


@pytest.mark.parametrize("declared", ["datetime(6)", "time(0)", "decimal(65,30)", "decimal(65)", "bit(64)", "bit(1)", "decimal(5,5)"])
def test_the_largest_lengths_and_precisions_mysql_declares_are_taken(declared):
    _column(declared)


def test_pk_must_be_declared():
    with pytest.raises(ValueError, match="pk column 'id' is not in columns"):
        table_schema("s", "t", {"c": "int"}, ["id"])
