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
