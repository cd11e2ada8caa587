"""Progress of sweeps, shown as plain lines in pytest's terminal, from pytest-xdist workers too.

``report(message)`` sends one line to the current *sink*, or does nothing when there is none. The
pytest plugin (``iwcore.plugin``) installs the sink: in a run without workers it writes through the
terminal reporter (with capture suspended, so no ``-s`` is needed); under pytest-xdist every worker
sends its lines as datagrams to a Unix socket that the controller reads and writes to its terminal.
With ``--no-progress``, or when the controller's output is not a terminal, no sink is installed.

``SweepProgress`` is the tqdm-like bar ``train_sweep`` drives (``update``/``set_postfix``/``close``):
it reports epochs done out of the total with the elapsed time and an ETA, at most every
``PROGRESS_INTERVAL_S`` seconds, and the total time at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable

PROGRESS_INTERVAL_S = 20.0  # at most one "epochs done" line per sweep per this many seconds

_sink: Callable[[str], None] | None = None


def report(message: str) -> None:
    """Show ``message`` as one progress line, if progress is shown; never raises."""
    sink = _sink
    if sink is None:
        return
    try:
        sink(message)
    except Exception:  # progress must never break a run
        pass


def enabled() -> bool:
    return _sink is not None


def set_sink(sink: Callable[[str], None] | None) -> Callable[[str], None] | None:
    """Install ``sink`` (None: silence); returns the previous one so that it can be restored."""
    global _sink
    previous, _sink = _sink, sink
    return previous


def duration(seconds: float) -> str:
    """``12.3 s``, ``4:05`` (min:s) or ``1:02:03`` (h:min:s)."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class SweepProgress:
    """A tqdm stand-in for one sweep's training that reports through ``say`` (default: ``report``).

    Calling the object returns itself, so it can be passed where a tqdm *class* is expected
    (``train_sweep(..., progress=SweepProgress(...))`` creates its bar by calling it with tqdm's
    keyword arguments, of which ``total`` is used). Updates by more than one step at once are a
    resumed sweep skipping finished work: they count as done but not toward the rate of the ETA.
    """

    def __init__(self, name: str, say: Callable[[str], None] | None = None,
                 interval_s: float = PROGRESS_INTERVAL_S, clock: Callable[[], float] = time.monotonic):
        self.name, self.say, self.interval_s, self.clock = name, say or report, interval_s, clock
        self.total = 0
        self.done = 0
        self.timed = 0  # steps counted toward the rate
        self.start = self.clock()
        self.last_said = self.start

    def __call__(self, total: int | None = None, **_tqdm_options) -> "SweepProgress":
        self.total = int(total or 0)
        self.start = self.last_said = self.clock()
        return self

    def update(self, n: int = 1) -> None:
        self.done += n
        if n == 1:
            self.timed += 1
        elif self.timed == 0:  # skipped work before any training: the clock starts now
            self.start = self.clock()
        now = self.clock()
        if now - self.last_said >= self.interval_s and self.done < self.total:
            self.last_said = now
            self.say(self.status(now))

    def status(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        elapsed = now - self.start
        text = f"{self.name}: {self.done}/{self.total} epochs"
        if self.total:
            text += f" ({100 * self.done / self.total:.0f}%)"
        text += f", {duration(elapsed)} elapsed"
        if self.timed and self.total:
            text += f", ETA {duration(elapsed / self.timed * (self.total - self.done))}"
        return text

    def set_postfix(self, *_args, **_kwargs) -> None:
        pass

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# The channel from pytest-xdist workers to the controller


class Listener:
    """Receives progress lines from workers on a Unix datagram socket and hands each to ``write``
    (on a background thread). ``address`` is what the workers need; ``close`` delivers what is left."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write
        self.folder = tempfile.mkdtemp(prefix="iwprogress-")
        self.address = os.path.join(self.folder, "socket")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.address)
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="iwclaims-progress", daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self._deliver(data)

    def _deliver(self, data: bytes):
        try:
            self.write(data.decode("utf-8", "replace"))
        except Exception:
            pass

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.setblocking(False)
        while True:  # what arrived after the loop stopped
            try:
                self._deliver(self.sock.recv(65536))
            except OSError:
                break
        self.sock.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def socket_sink(address: str, prefix: str = "") -> Callable[[str], None]:
    """A sink that sends each line to a ``Listener`` at ``address``; drops lines it cannot send."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setblocking(False)

    def send(message: str):
        try:
            sock.sendto(f"{prefix}{message}".encode()[:60000], address)
        except OSError:
            pass

    return send


def unix_sockets_available() -> bool:
    return hasattr(socket, "AF_UNIX")
