"""SQLite's WAL: measured, and shrunk by checkpoints once no reader holds it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from dashboard.store import schema, wal
from dashboard.store.db import make_engine


def test_a_held_reader_grows_the_wal_and_a_checkpoint_empties_it_once_released(
    tmp_path: Path,
) -> None:
    # Was: an outside reader holding a transaction grew the WAL ~15.6 MB a minute, unseen,
    # and the file never shrank (issue 18, item 13).
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    schema.upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as reader:
            reader.exec_driver_sql("BEGIN")
            reader.exec_driver_sql("SELECT count(*) FROM tick").one()  # a read snapshot, held
            with engine.begin() as writer:
                for n in range(200):
                    writer.execute(
                        text("INSERT INTO lease (name, holder, expires_at) VALUES (:n, 'x', 0)"),
                        {"n": f"lease-{n}"},
                    )
            grown = wal.wal_bytes(engine)
            assert grown is not None and grown > 0
            held = wal.checkpoint(engine)
            assert held is not None and held.busy
            assert wal.wal_bytes(engine) == grown  # the reader still needs it
            reader.exec_driver_sql("COMMIT")
        released = wal.checkpoint(engine)
        assert released is not None and not released.busy
        assert wal.wal_bytes(engine) == 0
    finally:
        engine.dispose()


def test_other_stores_have_no_wal_to_measure() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert wal.wal_path(engine) is None and wal.wal_bytes(engine) is None
    assert wal.checkpoint(engine) is None
    engine.dispose()
