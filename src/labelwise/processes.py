"""Whether a process that left its mark in the store (host name and pid) still runs: used to
take over at once what a dead training or job process held on this machine."""

from __future__ import annotations

import os
import socket


def here() -> tuple[str, int]:
    """This process: (host name, pid)."""
    return socket.gethostname(), os.getpid()


def alive_here(host: object, pid: object) -> bool | None:
    """Whether ``pid`` on ``host`` still runs; None when that cannot be told from here (another
    machine, or no pid)."""
    if host != socket.gethostname() or not isinstance(pid, int):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, someone else's
        return True
    return True
