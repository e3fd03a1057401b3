"""The router: TiCDC dispatch rules, first match wins, implicit ``*.*`` last."""

from __future__ import annotations

from cdcsink.errors import ConfigError
from cdcsink.route.config import DispatcherConfig
from cdcsink.route.matcher import TableMatcher
from cdcsink.route.partition import Partitioner, build_partitioner
from cdcsink.route.topic import TopicExpression


class TableRoute:
    __slots__ = ("schema", "table", "topic", "partition")

    def __init__(self, schema: str, table: str, topic: str, partition: Partitioner) -> None:
        self.schema = schema
        self.table = table
        self.topic = topic
        self.partition = partition


class _Rule:
    def __init__(self, index: int, config: DispatcherConfig) -> None:
        where = f"sink.dispatchers[{index}]"
        try:
            self.matcher = TableMatcher(config.matcher)
        except ConfigError as error:
            raise ConfigError(f"{where}.{error}") from None
        self.topic = TopicExpression(config.topic, f"{where}.topic") if config.topic else None
        self.partition = config.partition
        self.columns = config.columns


class Router:
    def __init__(self, dispatchers: list[DispatcherConfig], default_topic: str) -> None:
        self.default_topic = TopicExpression(default_topic, "sink.uri topic").substitute("", None)
        self._rules = [_Rule(i, d) for i, d in enumerate(dispatchers)]
        self._cache: dict[tuple[str, str], TableRoute] = {}

    def _rule_for(self, schema: str, table: str | None) -> _Rule | None:
        for rule in self._rules:
            if rule.matcher.matches(schema, table):
                return rule
        return None

    def route(self, schema: str, table: str) -> TableRoute:
        """The topic and partitioner of a table (cached)."""
        route = self._cache.get((schema, table))
        if route is None:
            rule = self._rule_for(schema, table)
            if rule is None:
                topic, partitioner = self.default_topic, build_partitioner("default", schema, table, [])
            else:
                topic = rule.topic.substitute(schema, table) if rule.topic else self.default_topic
                partitioner = build_partitioner(rule.partition, schema, table, rule.columns)
            route = self._cache[(schema, table)] = TableRoute(schema, table, topic, partitioner)
        return route

    def ddl_topic(self, schema: str, table: str | None) -> str:
        """A table DDL goes to the table's topic; a schema DDL to the default topic."""
        if table is None:
            return self.default_topic
        return self.route(schema, table).topic
