"""Trigger filters evaluated off the event loop, in worker processes with a hard time limit.

cel-python has no cost limit and a thread cannot be stopped, so each evaluation runs in a
process of its own pool; one that overruns ``timeout`` is killed and replaced. A trigger
has at most one evaluation in flight (its other deliveries wait their turn), so one
tenant's slow filter holds at most one worker; waiting for a free worker is bounded too.
The event loop only ever sends bytes down a pipe and waits on its file descriptor.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
from dataclasses import dataclass
from enum import StrEnum
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess

from agenttasks.api.meta import Key
from agenttasks.core.filters import Outcome, evaluate

log = logging.getLogger("agenttasks.filters")

FILTER_TIMEOUT = 2.0  # seconds of evaluation; normal filters take milliseconds
WORKER_WAIT = 5.0  # seconds a delivery may wait for a busy worker to come free
WORKERS = 2


class Failure(StrEnum):
    TIMED_OUT = "TimedOut"  # the evaluation ran over the time limit and was killed
    BUSY = "Busy"  # no worker came free in time
    CRASHED = "Crashed"  # the worker died (out of memory, say)


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome | None = None
    failure: Failure | None = None


READY = "ready"
STARTUP_TIMEOUT = 60.0  # seconds for a new worker to import cel-python


def _serve(conn: Connection) -> None:
    """The worker's loop: (expression, body) in, Outcome out, until the pipe closes."""
    # Ctrl-C reaches the whole process group; the operator stops its workers itself (and
    # a KeyboardInterrupt here only printed a traceback per worker).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # Said once the imports are done and the CEL parser is built (the first evaluation
        # in a process builds it: 0.1 s here, 100 times a later one's, and several times
        # that on a loaded machine), so that neither counts against a filter's time.
        evaluate("true", b"{}")
        conn.send(READY)
        while True:
            expression, body = conn.recv()
            conn.send(str(evaluate(expression, body)))
    except (EOFError, OSError):  # the operator has gone (or given up on us): so do we
        return


class _Worker:
    def __init__(self) -> None:
        # spawn, not fork: forking a process with threads and an event loop is unsafe.
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process: SpawnProcess = context.Process(target=_serve, args=(child,),
                                                     daemon=True, name="agenttasks-filter")
        self.process.start()
        child.close()

    def stop(self) -> None:
        self.process.kill()
        self.process.join(1)
        self.conn.close()


class FilterRunner:
    def __init__(self, workers: int = WORKERS, timeout: float = FILTER_TIMEOUT,
                 wait: float = WORKER_WAIT) -> None:
        self.timeout, self.wait, self.size = timeout, wait, workers
        self._idle: asyncio.Queue[_Worker] | None = None
        self._per_trigger: dict[Key, asyncio.Lock] = {}
        self._starting: set[asyncio.Task[None]] = set()
        self.replaced = 0  # workers killed and replaced, for tests and logs

    async def run(self, trigger: Key, expression: str, body: bytes) -> Verdict:
        """Evaluate ``expression`` over ``body``; never blocks the loop, never raises."""
        # One lock per trigger that ever had a filter run: bounded by the triggers that exist.
        lock = self._per_trigger.setdefault(trigger, asyncio.Lock())
        try:
            async with asyncio.timeout(self.wait):
                await lock.acquire()
        except TimeoutError:
            return Verdict(failure=Failure.BUSY)
        try:
            return await self._run(expression, body)
        finally:
            lock.release()

    async def _run(self, expression: str, body: bytes) -> Verdict:
        idle = self._workers()
        # A worker being started is worth waiting for (the first filtered delivery after
        # the operator starts, or one after a kill): its start-up is not a busy pool.
        wait = max(self.wait, STARTUP_TIMEOUT) if self._starting else self.wait
        try:
            worker = await asyncio.wait_for(idle.get(), wait)
        except TimeoutError:
            return Verdict(failure=Failure.BUSY)
        # Until an answer comes the worker is busy: a cancelled wait must not hand it back.
        failure: Failure | None = Failure.CRASHED
        try:
            worker.conn.send((expression, body))
            outcome = Outcome(await _receive(worker.conn, self.timeout))
            failure = None
            return Verdict(outcome=outcome)
        except TimeoutError:
            failure = Failure.TIMED_OUT
        except (EOFError, OSError, ValueError):
            pass
        finally:
            if failure is None:
                idle.put_nowait(worker)
            else:
                log.warning("filter worker %s killed (%s); starting another",
                            worker.process.pid, failure)
                await asyncio.to_thread(worker.stop)  # kill and join off the loop
                self.replaced += 1
                self._starting.add(asyncio.create_task(self._start_worker()))
        return Verdict(failure=failure)

    def start(self) -> None:
        """Start the workers now rather than at the first filtered delivery."""
        self._workers()

    async def started(self) -> None:
        """Return once the workers being started are ready (or have failed to start)."""
        await asyncio.gather(*self._starting, return_exceptions=True)

    @property
    def idle(self) -> int:
        """Workers ready and waiting for a filter."""
        return 0 if self._idle is None else self._idle.qsize()

    def _workers(self) -> asyncio.Queue[_Worker]:
        if self._idle is None:  # started on first use: most operators have no filters
            self._idle = asyncio.Queue()
            for _ in range(self.size):
                self._starting.add(asyncio.create_task(self._start_worker()))
        return self._idle

    async def _start_worker(self) -> None:
        worker: _Worker | None = None
        try:
            worker = await asyncio.to_thread(_Worker)
            if await _receive(worker.conn, STARTUP_TIMEOUT) != READY:
                raise ValueError("the filter worker did not start")
        except Exception as exc:  # the pool shrinks by one; deliveries then wait or get BUSY
            log.error("a filter worker failed to start: %s", exc)
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            return
        finally:
            self._starting.discard(asyncio.current_task())
        assert self._idle is not None
        self._idle.put_nowait(worker)

    def close(self) -> None:
        for task in self._starting:
            task.cancel()
        while self._idle is not None and not self._idle.empty():
            self._idle.get_nowait().stop()


async def _receive(conn: Connection, timeout: float) -> str:
    """The worker's answer, waiting on the pipe's descriptor (never a blocking read)."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(conn.fileno(), wake)
    try:
        await asyncio.wait_for(readable, timeout)
    finally:
        loop.remove_reader(conn.fileno())
    answer = conn.recv()  # a few bytes, already in the pipe
    if not isinstance(answer, str):
        raise ValueError("unexpected answer from a filter worker")
    return answer
