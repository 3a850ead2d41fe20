"""Stops a local cluster's processes when the Python process that started it dies.

ipyparallel starts the controller and the engines in sessions of their own (so that a
Ctrl-C in the notebook does not reach them), and nothing in them watches the process that
started them: a kernel killed with SIGKILL, or an out-of-memory kill, leaves its cluster
running. :meth:`Cluster.start <workbench.parallel.cluster.Cluster.start>` starts this small
watcher, in a session of its own too, and tells it the pid of every process it launches:

    python -m workbench.parallel.reaper PARENT_PID      (reads "pid N" and "done" lines)

The watcher notices the parent's death twice over: its stdin (a pipe whose only writer is
the parent) reaches end of file, or the parent pid is gone or reused. It then sends SIGTERM
to every process it was told of, to their descendants and to the members of the process
groups they lead (ipyparallel starts each in a session of its own, which its children
share: orphans are found there), waits :data:`GRACE` seconds and SIGKILLs what remains.
``done`` (sent by ``Cluster.stop``, which stops the processes itself) makes it exit without
touching anything. While it waits it only checks its parent, twice a second.

Only the standard library and psutil are imported here: the watcher starts in a fraction
of a second.
"""

from __future__ import annotations

import os
import select
import sys

import psutil

GRACE = 1.0
POLL = 0.5  # how often the parent is checked when its pipe stays silent


def group_leaders(processes: list[psutil.Process]) -> set[int]:
    """The process groups that ``processes`` lead (ipyparallel starts each launcher's process
    in a session of its own, and what it starts stays in that group).

    A process already gone counts as the leader it was started as: its group outlives it (a
    SIGKILLed controller leaves its schedulers running there).
    """
    leaders = set()
    for process in processes:
        try:
            if os.getpgid(process.pid) == process.pid:
                leaders.add(process.pid)
        except OSError:
            leaders.add(process.pid)
    return leaders


def group_members(groups: set[int], born_after: float = 0.0) -> list[psutil.Process]:
    """Every process in the process groups ``groups`` started at or after ``born_after`` (a
    Unix time: a group's members are younger than its leader, a process that reused a dead
    leader's pid is not), orphans included (a child the controller spawned as it was being
    stopped is no one's descendant any more)."""
    members: list[psutil.Process] = []
    if not groups:
        return members
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) in groups and process.pid != os.getpid() and process.create_time() >= born_after:
                members.append(process)
        except (OSError, psutil.Error):
            continue
    return members


class Watch:
    """The processes to stop, each kept as a ``psutil.Process`` (so a reused pid is never hit),
    and the process groups they lead."""

    def __init__(self) -> None:
        self.processes: dict[int, psutil.Process] = {}
        self.groups: set[int] = set()

    def add(self, pid: int) -> None:
        try:
            process = self.processes.setdefault(pid, psutil.Process(pid))
        except psutil.Error:
            return
        self.groups |= group_leaders([process])

    def refresh(self) -> None:
        """Add the descendants of the watched processes (engines start nannies, the controller
        its schedulers)."""
        for process in list(self.processes.values()):
            try:
                children = process.children(recursive=True)
            except psutil.Error:
                continue
            for child in children:
                self.processes.setdefault(child.pid, child)

    def running(self) -> list[psutil.Process]:
        alive = []
        for process in self.processes.values():
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(process)
            except psutil.Error:
                continue
        return alive

    def stop(self, grace: float = GRACE) -> None:
        self.refresh()
        known = {process.pid: process for process in self.running()}
        for member in group_members(self.groups):
            known.setdefault(member.pid, member)
        stop_processes(list(known.values()), grace)


def stop_processes(
    processes: list[psutil.Process], grace: float = GRACE, *, wait_first: float = 0.0, terminate: bool = True
) -> None:
    """Give ``processes`` ``wait_first`` seconds to exit by themselves, then SIGTERM the rest and
    ``grace`` seconds later SIGKILL what remains (or SIGKILL at once, ``terminate=False``); reap it."""
    _gone, remaining = psutil.wait_procs(processes, timeout=wait_first) if wait_first else ([], processes)
    if terminate:
        for process in remaining:
            try:
                process.terminate()
            except psutil.Error:
                pass
        _gone, remaining = psutil.wait_procs(remaining, timeout=grace)
    for process in remaining:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(remaining, timeout=max(grace, 5.0))


def _parent_alive(parent: psutil.Process) -> bool:
    try:
        return parent.is_running() and parent.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def watch(parent_pid: int, stream: int) -> int:
    """Read commands from the file descriptor ``stream`` until ``done`` or the parent's death."""
    try:
        parent = psutil.Process(parent_pid)
    except psutil.Error:
        parent = None
    targets = Watch()
    pending = b""
    while True:
        readable, _, _ = select.select([stream], [], [], POLL)
        if readable:
            chunk = os.read(stream, 4096)
            if not chunk:  # the parent's end of the pipe closed: it is gone
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                command, _, argument = line.decode("ascii", "replace").strip().partition(" ")
                if command == "done":
                    return 0
                if command == "pid" and argument.isdigit():
                    targets.add(int(argument))
        if parent is None or not _parent_alive(parent):
            break
    targets.stop()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python -m workbench.parallel.reaper PARENT_PID", file=sys.stderr)
        return 2
    return watch(int(argv[1]), sys.stdin.fileno())


if __name__ == "__main__":
    sys.exit(main(sys.argv))
