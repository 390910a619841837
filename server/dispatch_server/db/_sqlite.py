"""SQLite: sqlite3 on threads, a small reader pool and one writer thread with group commit."""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import attrs
import sqlalchemy as sa

T = TypeVar("T")


class SqliteBackend:
    """Runs transaction functions on threads, one hand-off per transaction rather than one
    per statement (which is what bounds an async SQLite driver). Reads run on a small pool;
    writes on one writer thread with group commit (see `_SqliteWriter`), opened with BEGIN
    IMMEDIATE so a writer in another process makes us wait via busy_timeout."""

    READERS = 4

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self._read_engine = _sqlite_engine(url, echo, self.READERS, begin="BEGIN")
        self._writer = _SqliteWriter(_sqlite_engine(url, echo, 1, begin="BEGIN IMMEDIATE"))
        self._readers = ThreadPoolExecutor(self.READERS, thread_name_prefix="sqlite-reader")

    async def run_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._readers, functools.partial(self._read_in_thread, fn, args, kwargs)
        )

    def _read_in_thread(
        self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> T:
        with self._read_engine.connect() as conn, conn.begin():
            return fn(conn, *args, **kwargs)

    async def run_write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        result: T = await self._writer.submit(functools.partial(fn, **kwargs), args)
        return result

    async def dispose(self) -> None:
        self._readers.shutdown(wait=True)
        self._read_engine.dispose()
        self._writer.close()


def _sqlite_engine(url: str, echo: bool, connections: int, *, begin: str) -> sa.Engine:
    """A sqlite3 engine whose transactions start with `begin` (the writer's BEGIN IMMEDIATE
    makes a writer in another process wait for us via busy_timeout, instead of failing later).

    pysqlite's implicit transactions are turned off and the dialect's do_begin issues the
    BEGIN: unlike SQLAlchemy's "begin" event recipe, this adds no per-statement event
    dispatch, which cost more than SQLite took to run the ingest statements.
    """
    engine = sa.create_engine(
        sa.make_url(url).set(drivername="sqlite"),
        echo=echo,
        connect_args={"check_same_thread": False},
        pool_size=connections,
    )

    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a 250 must survive power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    def do_begin(dbapi_connection: Any) -> None:
        dbapi_connection.execute(begin)

    engine.dialect.do_begin = do_begin  # type: ignore[method-assign]
    return engine


@attrs.frozen
class _WriteJob:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class _SqliteWriter:
    """One thread running queued write transactions, with group commit.

    Jobs that queue up while a transaction runs go into the next one together and share one
    commit. If any of them raises, that transaction is rolled back and each job is run again
    in a transaction of its own, so only the failing job fails (savepoints per job cost more
    than these rare re-runs). A job's future resolves only after its transaction committed.
    Transaction functions must therefore touch nothing but the connection they are given.
    """

    MAX_BATCH = 64

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._jobs: queue.SimpleQueue[_WriteJob | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._jobs.put(_WriteJob(fn, args, future, loop))
        return future

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()
        self._engine.dispose()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.MAX_BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                batch.append(job)
            self._run_batch(batch)

    def _run_batch(self, batch: list[_WriteJob]) -> None:
        outcomes: list[tuple[_WriteJob, bool, Any]] | None = None
        if len(batch) > 1:
            outcomes = self._run_together(batch)
        if outcomes is None:
            outcomes = [self._run_alone(job) for job in batch]
        # One wake-up per event loop for the whole batch: each call_soon_threadsafe writes to
        # the loop's self-pipe, which cost more than the rest of settling.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for job, ok, value in outcomes:
            by_loop.setdefault(job.loop, []).append((job.future, ok, value))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle, settled)

    def _transaction(self) -> sa.Connection:
        return self._engine.connect()

    def _run_together(self, batch: list[_WriteJob]) -> list[tuple[_WriteJob, bool, Any]] | None:
        """All jobs in one transaction; None if any of them raised (nothing is kept then)."""
        try:
            with self._transaction() as conn, conn.begin():
                return [(job, True, job.fn(conn, *job.args)) for job in batch]
        except Exception:
            return None

    def _run_alone(self, job: _WriteJob) -> tuple[_WriteJob, bool, Any]:
        try:
            with self._transaction() as conn, conn.begin():
                return (job, True, job.fn(conn, *job.args))
        except Exception as exc:
            return (job, False, exc)


def _settle(settled: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in settled:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
