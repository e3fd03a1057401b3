"""No input line may crash the decoder or be skipped silently."""

from hypothesis import given, settings, strategies as st

from cdcsink.decode import Decoder, decode_chunk
from cdcsink.errors import InvalidEventError
from cdcsink.source import Chunk

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
KEYS = ["kind", "schema", "table", "commit_ts", "op", "pk", "columns", "before", "after", "query", "commit_time_ms"]
event_like = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["row", "ddl", "resolved", "x"]) | json_values,
        "schema": st.text(max_size=4) | json_values,
        "table": st.text(max_size=4) | json_values,
        "commit_ts": st.integers(-5, 50) | json_values,
        "op": st.sampled_from(["insert", "update", "delete"]) | json_values,
        "pk": st.lists(st.sampled_from(["id", "x"]), max_size=2) | json_values,
        "columns": st.dictionaries(st.sampled_from(["id", "x"]), st.sampled_from(["int", "text"]), max_size=2) | json_values,
        "before": st.dictionaries(st.sampled_from(["id", "x"]), json_values, max_size=2) | json_values,
        "after": st.dictionaries(st.sampled_from(["id", "x"]), json_values, max_size=2) | json_values,
        "query": st.text(max_size=10) | json_values,
        "commit_time_ms": st.integers(0, 2**63) | json_values,
        # Misspelt, or a field of another kind: refused by both paths alike.
        "commit_time": st.integers(0, 2**63),
        "befor": st.dictionaries(st.sampled_from(["id", "x"]), json_values, max_size=2),
        "extra": json_values,
    },
)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_an_event_or_a_clear_error(raw):
    try:
        Decoder().decode(raw, "f", 1)
    except InvalidEventError as error:
        assert str(error).startswith("f:1: ") and "\n" not in error.reason


@settings(max_examples=300)
@given(st.lists(event_like, max_size=12))
def test_chunks_never_skip_a_line(objects):
    import orjson

    lines = [orjson.dumps(o) for o in objects]
    decoder = Decoder()
    chunk = Chunk("f", lines, 1, 0, sum(len(l) + 1 for l in lines))
    events, invalid = decode_chunk(decoder, chunk)
    if invalid is None:
        assert len(events) == len(lines)  # every line became an event
    else:
        assert invalid.index == len(events)  # stopped exactly at the first bad line
        assert invalid.origin == f"f:{invalid.index + 1}"


row_like = st.fixed_dictionaries(
    {
        "kind": st.just("row"),
        "schema": st.text(min_size=1, max_size=4),
        "table": st.text(min_size=1, max_size=4),
        "commit_ts": st.integers(1, 2**63),
        "op": st.sampled_from(["insert", "update", "delete"]),
        "columns": st.dictionaries(st.text(min_size=1, max_size=4), st.text(max_size=12) | st.sampled_from(
            ["int", "bigint unsigned", "decimal(10,2)", "varbinary(8)", "blob", "json", "bit(3)", "enum('a')", "set('a')", "datetime(6)"]
        ), min_size=1, max_size=4),
        "before": st.dictionaries(st.text(max_size=4), json_values, max_size=4),
        "after": st.dictionaries(st.text(max_size=4), json_values, max_size=4),
    },
    optional={"commit_time_ms": st.integers(0, 2**63), "pk_count": st.integers(0, 2)},
)


@settings(max_examples=300, deadline=None)
@given(row_like)
def test_a_decoded_row_always_routes_and_encodes(obj):
    """Whatever the decoder accepts, the partitioners and both encoders handle
    (or refuse with a one-line error): nothing downstream crashes on input."""
    import orjson

    from cdcsink.codec.registry import build_encoder
    from cdcsink.codec.options import EncoderOptions
    from cdcsink.errors import CdcsinkError
    from cdcsink.route.partition import build_partitioner

    obj = dict(obj)
    obj["pk"] = list(obj["columns"])[: obj.pop("pk_count", 0)]
    try:
        event = Decoder().decode(orjson.dumps(obj), "f", 1)
    except InvalidEventError:
        return
    for kind in ("table", "index-value", "ts"):
        assert 0 <= build_partitioner(kind, event.schema, event.table)(event, 3) < 3
    for protocol in ("canal-json", "open-protocol"):
        encoder = build_encoder(EncoderOptions(protocol=protocol, enable_tidb_extension=True))
        try:
            (message,) = encoder.encode_rows([event])
        except CdcsinkError as error:
            assert "\n" not in str(error)
            continue
        assert message[1]


def _outcome(decode, raw):
    try:
        event = decode(raw, "f", 1)
    except InvalidEventError as error:
        return ("invalid", error.reason)
    return (type(event).__name__, {name: getattr(event, name) for name in event.__slots__})


wide_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(event_like | row_like | st.fixed_dictionaries({"kind": st.just("resolved"), "commit_ts": st.integers(-1, 60)}),
             min_size=1, max_size=8),
    st.integers(0, 40),
    st.data(),
)
def test_the_typed_fast_path_decodes_exactly_as_the_checks_do(objects, last_resolved, data):
    """Every line, valid or not, gives the same event (or the same reason) by the
    typed fast path as by the generic parse and explicit checks, and leaves the
    decoder in the same state; values of any width included."""
    import json

    fast, slow = Decoder(last_resolved), Decoder(last_resolved)
    for obj in objects:
        obj = dict(obj)
        if "pk_count" in obj:
            obj["pk"] = list(obj["columns"])[: obj.pop("pk_count")]
            if data.draw(st.booleans()):
                obj["pk"].append(data.draw(st.sampled_from(["missing", *obj["columns"]])))
        if obj.get("kind") == "row" and data.draw(st.booleans()):
            obj["after"] = data.draw(st.dictionaries(st.text(max_size=3), wide_values, max_size=3))
        raw = json.dumps(obj).encode()
        assert _outcome(fast.decode, raw) == _outcome(slow._decode_slow, raw), raw
        assert fast.last_resolved_ts == slow.last_resolved_ts


#: Any JSON value (no infinities: JSON cannot carry them).
junk_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def typed_rows(draw: st.DrawFn) -> tuple[dict, dict | None]:
    """A row line of a table with columns of any supported type (declared as a
    string or an object), its values in any input form; sometimes one value
    replaced by junk. Returns the line and the canonical image it means (None
    when a value was replaced)."""
    from tests.input_forms import input_forms
    from tests.unit.codec.strategies import tables, value_strategy

    table = draw(tables())
    canonical = {column.name: draw(value_strategy(column)) for column in table.columns}
    after = {name: draw(input_forms(table.column(name), value)) for name, value in canonical.items()}
    columns = {
        column.name: draw(st.sampled_from([column.declared, {"type": column.declared}, {"type": column.declared, "nullable": True}]))
        if not column.primary_key else column.declared
        for column in table.columns
    }
    if draw(st.booleans()):
        name = draw(st.sampled_from(sorted(after)))
        after[name] = draw(junk_values | st.dictionaries(st.sampled_from(["base64", "hex"]), st.text(max_size=6), max_size=2))
        canonical = None
    line = {"kind": "row", "schema": "db", "table": table.table, "commit_ts": 5, "op": "insert", "pk": list(table.pk),
            "columns": columns, "after": after}
    return line, canonical


@settings(max_examples=400, deadline=None)
@given(typed_rows())
def test_every_input_form_of_a_value_decodes_to_its_canonical_value_by_both_paths(case):
    """Each type's input forms (bool for 1/0, a decimal's or a time's other
    spellings, base64/hex/text bytes, enum names, set lists, a JSON document
    or its text) decode to the one canonical value; junk in any column is the
    same event or the same reason by the fast path and by the checks."""
    import json

    line, canonical = case
    raw = json.dumps(line).encode()
    fast, slow = _outcome(Decoder().decode, raw), _outcome(Decoder()._decode_slow, raw)
    assert fast == slow, raw
    if canonical is not None:
        assert fast[0] == "RowEvent", (fast, raw)
        assert fast[1]["after"] == canonical
        assert all(type(fast[1]["after"][name]) is type(value) for name, value in canonical.items())
    elif fast[0] == "invalid":
        from cdcsink.decode import reason_code

        assert reason_code(fast[1]) == "value", fast[1]
