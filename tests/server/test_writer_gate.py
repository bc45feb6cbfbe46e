"""SQLite writers of one process queue in the event loop (server/db/gate.py): one at a time,
readers going on beside them, and a writer that fails hands the gate on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from server.db.engine import create_engine, create_sessionmaker


def _engine_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gate.db'}"


def test_writers_take_turns_and_readers_are_not_held(tmp_path: Path) -> None:
    async def main() -> tuple[list[int], int, int]:
        # Twelve writers hold the write lock across an await; six readers arrive once the first
        # writer holds it.
        engine = create_engine(_engine_url(tmp_path))
        sessions = create_sessionmaker(engine)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE marks (n INTEGER)"))
        order: list[int] = []
        inside = 0
        most_inside = 0
        reads_while_writing = 0
        writing = asyncio.Event()

        async def writer(n: int) -> None:
            nonlocal inside, most_inside
            async with sessions() as session:
                await session.execute(text("INSERT INTO marks VALUES (:n)"), {"n": n})
                inside += 1
                writing.set()
                most_inside = max(most_inside, inside)
                order.append(n)
                await asyncio.sleep(0.005)  # hold the write lock across an await
                inside -= 1
                await session.commit()

        async def reader() -> None:
            nonlocal reads_while_writing
            await writing.wait()
            async with sessions() as session:
                await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
                await session.execute(text("SELECT count(*) FROM marks"))
                if inside:
                    reads_while_writing += 1

        tasks = []
        for n in range(12):
            tasks.append(asyncio.create_task(writer(n)))
        tasks += [asyncio.create_task(reader()) for _ in range(6)]
        await asyncio.gather(*tasks)
        async with sessions() as session:
            stored = (await session.execute(text("SELECT count(*) FROM marks"))).scalar_one()
        await engine.dispose()
        assert stored == 12
        return order, most_inside, reads_while_writing

    order, most_inside, reads_while_writing = asyncio.run(main())
    assert sorted(order) == list(range(12))
    assert most_inside == 1
    assert reads_while_writing > 0


def test_a_writer_that_fails_releases_the_gate_for_the_next(tmp_path: Path) -> None:
    async def main() -> int:
        engine = create_engine(_engine_url(tmp_path))
        sessions = create_sessionmaker(engine)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE marks (n INTEGER NOT NULL)"))

        async def failing() -> None:
            async with sessions() as session:
                await session.execute(text("INSERT INTO marks VALUES (NULL)"))

        async def succeeding() -> None:
            async with sessions() as session:
                await session.execute(text("INSERT INTO marks VALUES (1)"))
                await session.commit()

        results = await asyncio.gather(failing(), succeeding(), return_exceptions=True)
        assert isinstance(results[0], Exception) and results[1] is None
        async with sessions() as session:
            count = (await session.execute(text("SELECT count(*) FROM marks"))).scalar_one()
        await engine.dispose()
        return int(count)

    assert asyncio.run(asyncio.wait_for(main(), timeout=10)) == 1


def test_a_reader_that_tries_to_write_is_refused_at_once(tmp_path: Path) -> None:
    """Statements run on the event loop's thread: a reader waiting for the write lock would wait
    for the writer holding it, which waits for that same loop. It is refused instead, the writer
    goes on, and the next writer on the same pooled connection may write again."""

    async def main() -> tuple[str, float, int]:
        engine = create_engine(_engine_url(tmp_path))
        sessions = create_sessionmaker(engine)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE marks (n INTEGER)"))
        async with sessions() as writer:
            await writer.execute(text("INSERT INTO marks VALUES (1)"))  # holds the write lock
            async with sessions() as reader:
                await reader.connection(execution_options={"sqlite_begin": "DEFERRED"})
                started = time.perf_counter()
                try:
                    await reader.execute(text("INSERT INTO marks VALUES (2)"))
                    error = ""
                except OperationalError as exc:
                    error = str(exc.orig)
                waited = time.perf_counter() - started
            await writer.commit()
        async with sessions() as session:
            await session.execute(text("INSERT INTO marks VALUES (3)"))
            await session.commit()
            count = (await session.execute(text("SELECT count(*) FROM marks"))).scalar_one()
        await engine.dispose()
        return error, waited, int(count)

    error, waited, count = asyncio.run(asyncio.wait_for(main(), timeout=10))
    assert "readonly" in error
    assert waited < 1.0
    assert count == 2
