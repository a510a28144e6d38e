"""A small threaded stage pipeline: items flow through a chain of stages, each stage in its own
thread, joined by short queues, so that the work around the generator (pose normalization,
label drawing, exemplar posing before it; compositing and encoding after it) runs while the
generator computes another frame. torch, OpenCV and PyAV release the GIL in their heavy calls,
so threads are enough; no process start-up, no copies between processes.

    for out in overlapped(frames, [prepare, generate, composite]):
        writer.write(out)

Order is kept (one thread per stage, FIFO queues), so a stateful stage (the generator, which
conditions each frame on its previous output) sees its items in order. `serial` runs the same
stages one after the other in the caller's thread: the reference the threaded run must equal.
An exception in any stage stops the others and is raised in the caller.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator, Sequence

_END = object()  # marks the end of the items


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


def serial(items: Iterable, stages: Sequence[Callable]) -> Iterator:
    """The stages applied one after the other to each item, in this thread."""
    for item in items:
        for stage in stages:
            item = stage(item)
        yield item


def _set_torch_threads(n: int | None) -> None:
    if n is not None:
        import torch

        torch.set_num_threads(n)


def overlapped(items: Iterable, stages: Sequence[Callable], depth: int = 2,
               threads: Sequence[int | None] | None = None) -> Iterator:
    """The stages applied to each item, each stage in its own thread (the first also reads
    `items`), at most `depth` items waiting between two stages (memory stays bounded). The
    caller's thread consumes the results, so its own work (e.g. writing a video) overlaps too.
    Closing the iterator early (break) stops the threads.

    threads: torch's intra-op threads for each stage (None: leave it). OpenMP keeps that count
    per thread, and a new thread starts with the process default (all cores), so without this
    a stage's small tensor conversions start a second team of spinning OpenMP threads that
    fights the generator's for the same cores (measured: no gain from overlapping at all)."""
    stop = threading.Event()
    queues = [queue.Queue(maxsize=depth) for _ in stages]

    def put(q: queue.Queue, x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def get(q: queue.Queue):
        while not stop.is_set():
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                continue
        return _END

    def run(i: int) -> None:
        out = queues[i]
        try:
            _set_torch_threads(threads[i] if threads is not None else None)
            source = iter(items) if i == 0 else None
            while not stop.is_set():
                if source is not None:
                    x = next(source, _END)
                else:
                    x = get(queues[i - 1])
                if x is _END or isinstance(x, _Failed):
                    put(out, x)
                    return
                if not put(out, stages[i](x)):
                    return
        except BaseException as e:  # handed to the caller, which raises it
            put(out, _Failed(e))

    workers = [threading.Thread(target=run, args=(i,), name=f"overlap-{i}", daemon=True) for i in range(len(stages))]
    for t in workers:
        t.start()
    try:
        while True:
            x = get(queues[-1])
            if x is _END:
                return
            if isinstance(x, _Failed):
                raise x.exc
            yield x
    finally:
        stop.set()
        for t in workers:
            t.join(timeout=5.0)


def run_stages(items: Iterable, stages: Sequence[Callable], overlap: bool = True, depth: int = 2,
               threads: Sequence[int | None] | None = None) -> Iterator:
    """`overlapped` or `serial`, by `overlap` (serial ignores `threads`: one thread does all)."""
    return overlapped(items, stages, depth, threads) if overlap else serial(items, stages)


class Worker:
    """One function run in a thread of its own, one item at a time, for a caller that must not
    wait: a live display hands it the newest input when it is idle, and shows its newest result
    when one is done, keeping its own frame rate however long the work takes.

        w = Worker(forecast)
        if w.idle:
            w.submit(context)
        done = w.take()  # the result, or Worker.NOTHING while none is new

    An exception in the function is raised in the caller by the next `take`. threads: torch's
    intra-op threads in the worker (see `overlapped`; None: the caller's count when it started)."""

    NOTHING = _END

    def __init__(self, fn: Callable, threads: int | None = None):
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        self._fn, self._threads = fn, threads
        self._item, self._result = _END, _END
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="worker", daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        """True when nothing is being computed (a result may still wait to be taken)."""
        with self._lock:
            return not self._busy

    def submit(self, item) -> None:
        with self._lock:
            if self._busy:
                raise RuntimeError("the worker is busy: submit only when it is idle")
            self._busy, self._item = True, item
        self._wake.set()

    def take(self):
        """The newest result not taken yet, or NOTHING; raises the function's exception."""
        with self._lock:
            result, self._result = self._result, _END
        if isinstance(result, _Failed):
            raise result.exc
        return result

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread (after the item in hand, if any)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=timeout)

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self) -> None:
        _set_torch_threads(self._threads)
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                item = self._item
            try:
                out = self._fn(item)
            except BaseException as e:  # handed to the caller, which raises it
                out = _Failed(e)
            with self._lock:
                self._result, self._busy = out, False
