"""large-message-handle-option and -compression, with rows just under and just over the limit."""

from __future__ import annotations

import pytest

import orjson
from cdcsink.codec.registry import build_encoder
from cdcsink.codec.common.large import decompress, read_claim_check
from cdcsink.codec.open_protocol.encoder import decode_open_protocol
from cdcsink.codec.options import EncoderOptions
from cdcsink.errors import MessageTooLargeError
from cdcsink.events import RowEvent

COLUMNS = {"id": "bigint", "tag": "varchar(8)", "body": "text"}


def row(op: str = "update", body: str = "x" * 400) -> RowEvent:
    before = {"id": 7, "tag": "old", "body": "before"}
    after = {"id": 7, "tag": "new", "body": body}
    if op == "insert":
        return RowEvent("shop", "docs", 99, op, ["id"], COLUMNS, None, after, 1_700_000_000_000)
    if op == "delete":
        return RowEvent("shop", "docs", 99, op, ["id"], COLUMNS, {**before, "body": body}, None, 1_700_000_000_000)
    return RowEvent("shop", "docs", 99, op, ["id"], COLUMNS, before, after, 1_700_000_000_000)


def encoder(protocol: str, limit: int = 10 * 1024 * 1024, option: str = "none", compression: str = "none", tmp=None):
    return build_encoder(
        EncoderOptions(
            protocol=protocol,
            enable_tidb_extension=True,
            max_message_bytes=limit,
            large_message_handle_option=option,
            large_message_handle_compression=compression,
            claim_check_storage_uri=f"file://{tmp}/claims" if tmp else None,
            clock_ms=lambda: 5,
        )
    )


def size(message) -> int:
    """The size the encoder checks: canal-json's value; an open-protocol one-row message."""
    key, value = message
    return len(value) if key is None else 8 + 16 + len(key) + len(value)


def full(protocol: str, event: RowEvent, compression: str = "none"):
    return encoder(protocol, compression=compression).encode_row(event)


PROTOCOLS = ["canal-json", "open-protocol"]
OPTIONS = ["none", "handle-key-only", "claim-check"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("option", OPTIONS)
def test_a_row_just_under_the_limit_goes_out_whole(protocol, option, tmp_path):
    event = row()
    whole = full(protocol, event)
    enc = encoder(protocol, size(whole), option, tmp=tmp_path)
    assert enc.encode_row(event) == whole
    assert not (tmp_path / "claims").exists() or not list((tmp_path / "claims").iterdir())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_none_stops_on_a_row_just_over_the_limit(protocol):
    event = row()
    with pytest.raises(MessageTooLargeError) as info:
        encoder(protocol, size(full(protocol, event)) - 1).encode_row(event)
    text = str(info.value)
    assert "shop.docs commit_ts=99 pk={'id': 7}" in text and "large-message-handle-option" in text and "\n" not in text


@pytest.mark.parametrize("op", ["insert", "update", "delete"])
def test_canal_json_handle_key_only_sends_the_pk_columns(op):
    event = row(op)
    key, value = encoder("canal-json", size(full("canal-json", event)) - 1, "handle-key-only").encode_row(event)
    msg = orjson.loads(value)
    assert key is None
    assert msg["_tidb"] == {"commitTs": 99, "onlyHandleKey": True}
    assert msg["data"] == [{"id": "7"}] and msg["pkNames"] == ["id"]
    assert msg["mysqlType"] == {"id": "bigint"} and msg["sqlType"] == {"id": -5}
    assert msg["old"] == ([{"id": "7"}] if op == "update" else None)
    assert msg["type"] == op.upper() and msg["database"] == "shop" and msg["table"] == "docs"


@pytest.mark.parametrize("op", ["insert", "update", "delete"])
def test_open_protocol_handle_key_only_sends_the_pk_columns(op):
    event = row(op)
    key, value = encoder("open-protocol", size(full("open-protocol", event)) - 1, "handle-key-only").encode_row(event)
    key_doc, value_doc = orjson.loads(key), orjson.loads(value)
    assert key_doc == {"ts": 99, "scm": "shop", "tbl": "docs", "t": 1, "ohk": True}
    image = value_doc["d" if op == "delete" else "u"]
    assert set(image) == {"id"} and image["id"]["v"] == 7 and image["id"]["h"] is True
    assert ("p" in value_doc) == (op == "update")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_claim_check_writes_the_whole_message_first_and_sends_its_location(protocol, tmp_path):
    event = row()
    whole = full(protocol, event)
    enc = encoder(protocol, size(whole) - 1, "claim-check", tmp=tmp_path)
    key, value = enc.encode_row(event)
    if protocol == "canal-json":
        msg = orjson.loads(value)
        location = msg["_tidb"]["claimCheckLocation"]
        assert "onlyHandleKey" not in msg["_tidb"] and msg["data"] == [{"id": "7"}]  # as TiCDC writes it
        assert read_claim_check(location) == whole
    else:
        key_doc = orjson.loads(key)
        location = key_doc["ccl"]
        assert "ohk" not in key_doc
        stored_key, stored_value = read_claim_check(location)
        ((stored_key_doc, stored_value_doc),) = decode_open_protocol(stored_key, stored_value)
        assert stored_key_doc == orjson.loads(whole[0]) and stored_value_doc == orjson.loads(whole[1])
    assert location.startswith(f"file://{tmp_path}/claims/") and location.endswith(".json")
    assert [p.name for p in (tmp_path / "claims").iterdir()] == [location.rsplit("/", 1)[1]]  # no temp file left


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_handled_message_that_is_still_too_large_stops_the_run(protocol):
    event = row()
    with pytest.raises(MessageTooLargeError, match="so does its handle-key-only message"):
        encoder(protocol, 60, "handle-key-only").encode_row(event)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_table_without_a_handle_key_cannot_be_reduced(protocol):
    event = row()
    event.pk = []
    with pytest.raises(MessageTooLargeError, match="no handle key"):
        encoder(protocol, size(full(protocol, event)) - 1, "handle-key-only").encode_row(event)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("codec", ["lz4", "snappy", "zstd"])
def test_compression_applies_before_the_size_check(protocol, codec):
    event = row(body="y" * 5000)  # compresses well
    plain = full(protocol, event)
    enc = encoder(protocol, size(plain) - 1, "none", codec)
    key, value = enc.encode_row(event)  # over the limit raw, under it compressed: sent whole
    assert decompress(codec, value) == plain[1] and key == plain[0]
    assert len(value) < len(plain[1]) // 5


def test_config_requires_the_tidb_extension_and_a_file_uri():
    from pydantic import ValidationError

    from cdcsink.sink.config import SinkConfig

    base = "kafka://k:9092/t?protocol=canal-json"
    with pytest.raises(ValidationError, match="needs enable-tidb-extension=true"):
        SinkConfig(uri=base + "&large-message-handle-option=handle-key-only")
    with pytest.raises(ValidationError, match="claim-check-storage-uri: required"):
        SinkConfig(uri=base + "&enable-tidb-extension=true&large-message-handle-option=claim-check")
    with pytest.raises(ValidationError, match="must be a file:// directory"):
        SinkConfig(uri=base + "&enable-tidb-extension=true&large-message-handle-option=claim-check&claim-check-storage-uri=s3://b/p")
    ok = SinkConfig(uri=base + "&enable-tidb-extension=true&large-message-handle-option=claim-check&claim-check-storage-uri=file:///tmp/cc")
    assert ok.large_message_handle_option == "claim-check"
    assert SinkConfig(uri="kafka://k:9092/t?protocol=open-protocol&large-message-handle-option=handle-key-only")


@pytest.mark.parametrize("codec", ["lz4", "zstd"])
def test_compression_covers_ddl_and_watermark_values(codec):
    import orjson as _orjson

    from cdcsink.codec.open_protocol.encoder import decode_open_protocol as _decode
    from cdcsink.events import DDLEvent

    ddl = DDLEvent("shop", "docs", 120, "ALTER TABLE docs ADD COLUMN x INT")
    canal = encoder("canal-json", compression=codec)
    plain = encoder("canal-json")
    assert decompress(codec, canal.encode_ddl(ddl)[1]) == plain.encode_ddl(ddl)[1]
    assert decompress(codec, canal.encode_watermark(130)[1]) == plain.encode_watermark(130)[1]
    key, value = encoder("open-protocol", compression=codec).encode_ddl(ddl)
    (raw_entry,) = [value[8:]]  # one length-prefixed entry
    assert _orjson.loads(decompress(codec, raw_entry))["q"] == ddl.query
    assert _decode(*encoder("open-protocol").encode_ddl(ddl))[0][1]["q"] == ddl.query


@pytest.mark.parametrize("codec", ["lz4", "snappy", "zstd"])
def test_compressed_values_are_in_the_formats_consumers_expect(codec):
    """lz4 and zstd frames (their magic numbers), snappy's raw block (no framing):
    checked apart from cdcsink's own decompress, which would accept its own format."""
    import cramjam

    from cdcsink.codec.common.large import compressor

    payload = b'{"id":0,"data":[{"note":"' + b"x" * 200 + b'"}]}'
    compressed = compressor(codec)(payload)
    if codec == "lz4":
        assert compressed[:4] == b"\x04\x22\x4d\x18"
    elif codec == "zstd":
        assert compressed[:4] == b"\x28\xb5\x2f\xfd"
    else:
        assert bytes(cramjam.snappy.decompress_raw(compressed)) == payload
        assert not compressed.startswith(b"\xff\x06\x00\x00sNaPpY")  # not the framing format
