"""SQLite: sqlite3 with reads on a small thread pool and writes with group commit."""

from __future__ import annotations

import asyncio
import collections
import functools
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import attrs
import sqlalchemy as sa

if sys.platform != "win32":
    import fcntl

T = TypeVar("T")


class SqliteBackend:
    """Runs transaction functions with the plain sqlite3 driver, a hand-off to a thread per
    transaction rather than per statement (which is what bounds an async SQLite driver).
    Reads run on a small pool; writes with group commit (see `_SqliteWriter`), opened with
    BEGIN IMMEDIATE so a writer in another process makes us wait rather than fail later."""

    READERS = 4

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self._read_engine = _sqlite_engine(url, echo, self.READERS, begin="BEGIN")
        self._writer = _SqliteWriter(
            _sqlite_engine(url, echo, 1, begin="BEGIN IMMEDIATE"), _lock_path(url)
        )
        self._readers = ThreadPoolExecutor(self.READERS, thread_name_prefix="sqlite-reader")

    async def run_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._readers, functools.partial(self._read_in_thread, fn, args, kwargs)
        )

    async def run_short_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self._read_in_thread(fn, args, kwargs)  # on the event loop's thread

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
        await self._writer.close()


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


def _lock_path(url: str) -> str | None:
    """The file whose lock Dispatch's processes take around a write transaction on the
    database file of `url` (none for an in-memory database, or on Windows).

    SQLite itself makes a writer wait for another process's write lock by sleeping and trying
    again (1, 2, 5, 10… ms), so two SMTP processes sharing a file spent much of their time
    asleep; a kernel lock wakes the next writer as soon as the last one commits.
    """
    database = sa.make_url(url).database
    if sys.platform == "win32" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a URI filename: SQLite's own locking alone
        return None
    return database + "-writelock"


@attrs.frozen
class _WriteJob:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]


class _SqliteWriter:
    """Write transactions with group commit, one batch at a time on one connection.

    Jobs that queue up while a batch commits go into the next transaction together and share
    one commit. If any of them raises, that transaction is rolled back and each job is run
    again in a transaction of its own, so only the failing job fails (savepoints per job cost
    more than these rare re-runs). A job's future resolves only after its transaction
    committed. Transaction functions must therefore touch nothing but the connection they are
    given.

    The statements run on the event loop's thread: run on a thread of their own they paid for
    the GIL at every statement (sqlite3 lets it go around each one), and under load that wait
    was most of an ingest's time. What may block goes to the writer thread instead: BEGIN
    IMMEDIATE (which waits for another process's write lock) and COMMIT (which syncs the WAL),
    so the event loop parses the next messages while a batch is synced.
    """

    MAX_BATCH = 64

    def __init__(self, engine: sa.Engine, lock_path: str | None) -> None:
        self._engine = engine
        # Opened here, used by the writer thread only: see _lock_path.
        self._lock = (
            None if lock_path is None else os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        )
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._jobs: collections.deque[_WriteJob] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining: asyncio.Task[None] | None = None

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("a SQLite Database writes from the event loop that opened it")
        future: asyncio.Future[Any] = loop.create_future()
        self._jobs.append(_WriteJob(fn, args, future))
        if self._draining is None:
            self._draining = loop.create_task(self._drain())
        return future

    async def close(self) -> None:
        if self._draining is not None:
            await asyncio.shield(self._draining)
        self._thread.shutdown(wait=True)
        self._engine.dispose()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    async def _drain(self) -> None:
        try:
            while self._jobs:
                count = min(len(self._jobs), self.MAX_BATCH)
                await self._run_batch([self._jobs.popleft() for _ in range(count)])
        finally:
            self._draining = None

    async def _run_batch(self, batch: list[_WriteJob]) -> None:
        try:
            results = await self._transaction(batch)
        except _JobFailed as failed:
            if len(batch) == 1:
                _settle(batch[0].future, None, failed.error)
                return
            # One of them failed: each runs alone, so only that one fails.
            for job in batch:
                try:
                    (result,) = await self._transaction([job])
                except _JobFailed as alone:
                    _settle(job.future, None, alone.error)
                except Exception as exc:
                    _settle(job.future, None, exc)
                else:
                    _settle(job.future, result, None)
        except Exception as exc:
            # BEGIN or COMMIT failed (another process held the write lock past busy_timeout,
            # the disk is full): every job of the batch fails alike, at once, rather than
            # each waiting for the same lock again on its own.
            for job in batch:
                _settle(job.future, None, exc)
        else:
            for job, result in zip(batch, results, strict=True):
                _settle(job.future, result, None)

    async def _transaction(self, jobs: list[_WriteJob]) -> list[Any]:
        """Run the jobs in one transaction; a job's own exception comes as _JobFailed."""
        loop = asyncio.get_running_loop()
        conn, transaction = await loop.run_in_executor(self._thread, self._begin)
        try:
            results = [job.fn(conn, *job.args) for job in jobs]
        except BaseException as exc:
            await loop.run_in_executor(self._thread, self._end, conn, transaction.rollback)
            if isinstance(exc, Exception):
                raise _JobFailed(exc) from exc
            raise
        await loop.run_in_executor(self._thread, self._end, conn, transaction.commit)
        return results

    def _begin(self) -> tuple[sa.Connection, sa.RootTransaction]:
        """On the writer thread: the cross-process lock, then BEGIN IMMEDIATE."""
        if self._lock is not None and sys.platform != "win32":
            fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            conn = self._engine.connect()
            try:
                return conn, conn.begin()
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self._unlock()
            raise

    def _end(self, conn: sa.Connection, finish: Callable[[], None]) -> None:
        """On the writer thread: commit or roll back, give the connection back (rolled back
        if the commit failed), unlock."""
        try:
            finish()
        finally:
            try:
                conn.close()
            finally:
                self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None and sys.platform != "win32":
            fcntl.flock(self._lock, fcntl.LOCK_UN)


class _JobFailed(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


def _settle(future: asyncio.Future[Any], result: Any, error: Exception | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
