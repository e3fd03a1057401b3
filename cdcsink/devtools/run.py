"""`make run`: start the dev broker, run the daemon on the bundled sample
events, read every topic back and print what Kafka holds."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from cdcsink.config import load_settings
from cdcsink.devtools.broker import DevBroker
from cdcsink.devtools.readback import read_back
from cdcsink.errors import CdcsinkError
from cdcsink.logs import configure_logging
from cdcsink.pipeline import Pipeline


async def demo(config_path: str, workdir: Path) -> int:
    settings = load_settings(config_path)
    configure_logging(settings.log.format, "warning", settings.changefeed)
    workdir.mkdir(parents=True, exist_ok=True)
    checkpoint = workdir / "checkpoint.json"
    checkpoint.unlink(missing_ok=True)
    settings.checkpoint.store = f"file://{checkpoint.resolve()}"
    with DevBroker(log_path=workdir / "broker.log") as broker:
        settings.sink.brokers = [broker.bootstrap]
        print(f"dev broker (Tansu) on {broker.bootstrap}; input {', '.join(settings.source.path)}")
        result = await Pipeline(settings).run()
        records = await read_back(broker.bootstrap, result.messages)
        print(f"\n{'topic':<28} {'partition':>9} {'messages acked':>15} {'read back':>10}")
        for (topic, partition), acked in sorted(result.messages.items()):
            print(f"{topic:<28} {partition:>9} {acked:>15} {len(records[(topic, partition)]):>10}")
        print(
            f"\nrows {result.rows}, DDLs {result.ddls}, watermark messages {result.watermarks}; "
            f"final checkpoint_ts {result.checkpoint_ts} at {result.position}"
        )
        print(f"checkpoint file {checkpoint}:\n{checkpoint.read_text()}")
        sample = next((r for recs in records.values() for r in recs), None)
        if sample is not None:
            print(f"first message of {sample.topic}[{sample.partition}]:\n{sample.value[:600].decode(errors='replace')}")
    return 0


def main() -> int:
    config = sys.argv[1] if len(sys.argv) > 1 else "config/sample.yaml"
    try:
        return asyncio.run(demo(config, Path("run")))
    except CdcsinkError as error:
        print(f"cdcsink: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
