"""Cancelling runs on SIGTERM and SIGINT: the kernel stopped, the run recorded ``cancelled``.

The signal handler only notes the signal (no lock, no I/O, no exception raised into whatever
the main thread was doing); each running execution's watchdog sees it within a tenth of a
second, interrupts its kernel and kills it if the cell does not stop within a grace period.
The execution then ends through its normal path, so the run record and the output notebook
are written in full, with the status ``cancelled``. A second signal kills the kernels at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
"""Exit codes of ``workbench run`` and ``workbench scheduler`` stopped by a signal (128 + signal number)."""

REASONS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
"""The ``reason`` of a cancelled run, by the signal that cancelled it."""


class Cancellation:
    """A request to stop the runs that watch it, set from a signal handler or by :meth:`request`."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0

    @property
    def requested(self) -> bool:
        return self.count > 0

    @property
    def urgent(self) -> bool:
        """A second request: stop kernels now, without waiting for the interrupted cell."""
        return self.count > 1

    @property
    def reason(self) -> str:
        return REASONS.get(signal.Signals(self.signum), "cancelled") if self.signum else "cancelled"

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "a request"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(signal.Signals(self.signum), 1) if self.signum else 1

    def request(self, signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        """Ask every watching run to stop (safe in a signal handler: two assignments)."""
        if self.signum is None:
            self.signum = signum
        self.count += 1


@contextmanager
def cancel_on_signals(cancellation: Cancellation) -> Iterator[Cancellation]:
    """SIGINT and SIGTERM request ``cancellation`` while inside; the previous handlers after.

    Outside the main thread (where Python cannot install handlers) nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield cancellation
        return
    previous = {sig: signal.signal(sig, cancellation.request) for sig in EXIT_CODES}
    try:
        yield cancellation
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["EXIT_CODES", "REASONS", "Cancellation", "cancel_on_signals"]
