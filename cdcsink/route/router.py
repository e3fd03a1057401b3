"""The router: which topic and partitioner each table uses (TiCDC's event router).

Dispatchers are tried in order and the first whose matcher matches the table
wins; an implicit last rule ``*.*`` sends every other table to the default
topic with the default (``table``) partitioner. A table DDL goes to its
table's topic; a schema DDL (no table) to the default topic, as in TiCDC.
"""

from __future__ import annotations

from cdcsink.errors import ConfigError
from cdcsink.route.config import DispatcherConfig
from cdcsink.route.matcher import TableMatcher
from cdcsink.route.partition import Partitioner, build_partitioner
from cdcsink.route.topic import TopicExpression, topic_name_problem


class TableRoute:
    """Where a table's rows go. ``rule`` is the index of the dispatcher that
    matched, None for the implicit default rule."""

    __slots__ = ("schema", "table", "topic", "partition", "rule")

    def __init__(self, schema: str, table: str, topic: str, partition: Partitioner, rule: int | None) -> None:
        self.schema = schema
        self.table = table
        self.topic = topic
        self.partition = partition
        self.rule = rule

    def __repr__(self) -> str:
        return f"TableRoute({self.schema}.{self.table} -> {self.topic}, rule={self.rule})"


class _Rule:
    __slots__ = ("index", "matcher", "topic", "partition", "columns")

    def __init__(self, index: int, config: DispatcherConfig) -> None:
        where = f"sink.dispatchers[{index}]"
        self.index = index
        try:
            self.matcher = TableMatcher(config.matcher)
        except ConfigError as error:
            raise ConfigError(f"{where}.matcher: {error}") from None
        try:
            self.topic = TopicExpression(config.topic) if config.topic else None
        except ConfigError as error:
            raise ConfigError(f"{where}.topic: {error}") from None
        try:
            build_partitioner(config.partition, "", "", config.columns)
        except ConfigError as error:
            raise ConfigError(f"{where}.partition: {error}") from None
        self.partition = config.partition
        self.columns = list(config.columns)


class Router:
    """Routes tables by ``dispatchers``; raises :class:`ConfigError` for a bad one."""

    def __init__(self, dispatchers: list[DispatcherConfig], default_topic: str) -> None:
        problem = topic_name_problem(default_topic)
        if problem:
            raise ConfigError(f"sink.uri: default topic {default_topic!r}: {problem}")
        self.default_topic = default_topic
        self._rules = [_Rule(i, d) for i, d in enumerate(dispatchers)]
        self._cache: dict[tuple[str, str], TableRoute] = {}

    def route(self, schema: str, table: str) -> TableRoute:
        """The route of ``schema.table``, built on first use and then cached."""
        route = self._cache.get((schema, table))
        if route is None:
            route = self._cache[(schema, table)] = self._build(schema, table)
        return route

    def _build(self, schema: str, table: str) -> TableRoute:
        for rule in self._rules:
            if rule.matcher.matches(schema, table):
                topic = rule.topic.substitute(schema, table) if rule.topic else self.default_topic
                partitioner = build_partitioner(rule.partition, schema, table, rule.columns)
                return TableRoute(schema, table, topic, partitioner, rule.index)
        return TableRoute(schema, table, self.default_topic, build_partitioner("default", schema, table), None)

    def ddl_topic(self, schema: str, table: str | None) -> str:
        """A table DDL's topic is its table's; a schema DDL goes to the default topic."""
        if table is None:
            return self.default_topic
        return self.route(schema, table).topic
