"""The DDL text scanner: parentheses and commas inside quotes do not count."""

from cdcsink.codec.common.ddl_table import _parenthesized, _top_level, created_table


def test_commas_and_parentheses_in_quotes_and_identifiers_are_text():
    body = "a int, b enum('x,y', 'z)'), `c,(d` varchar(10) comment 'it''s, \\' (', e decimal(10,2)"
    assert _top_level(body) == [
        "a int", "b enum('x,y', 'z)')", "`c,(d` varchar(10) comment 'it''s, \\' ('", "e decimal(10,2)",
    ]


def test_the_parenthesized_body_ends_at_its_own_closing_parenthesis():
    query = "create table t (a enum(')', '('), b int) engine=innodb comment '(x)'"
    assert _parenthesized(query, query.index("(")) == "a enum(')', '('), b int"
    assert _parenthesized("create table t (a int", 15) is None


def test_a_created_table_reads_columns_with_quoted_commas():
    created = created_table("CREATE TABLE t (id bigint primary key, s set('a,b','c') not null, n varchar(5))", "db", "t")
    assert created is not None
    table = created[0]
    assert [column.name for column in table.columns] == ["id", "s", "n"]
