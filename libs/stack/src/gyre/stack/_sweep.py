"""Which live processes belong to one stack, for ``gyre down``'s sweep and ``gyre up``.

A process belongs to the stack in a home when one of these holds (first match wins):

1. its environment carries ``GYRE_STACK_ID=<stack id>`` — inherited from supervisord by
   every descendant, including Ray's workers that leave the session;
2. it runs in a session or process group recorded for the stack (``stack.pids``: the
   session of supervisord, the group of each component), and started after the
   recorded leader in the same boot — Ray's agents rename themselves with
   setproctitle, which zeroes ``/proc/<pid>/environ``, but stay in the session;
3. it runs Ray's or this environment's executables and listens on one of the
   stack's ports — renamed Ray agents whose session leader is gone;
4. it is one of the stack's own programs, run from this environment, and an argument
   *is* the home (or Ray's temp dir) or a path inside it — a path-component match,
   never a substring. The stack's programs are the components' executables
   (``nats-server``, ``weed``, ``tritonserver``, ``raylet``, ``gcs_server``,
   ``supervisord``), Ray's processes (``ray start``, ``ray::``-titled workers and agents,
   scripts and modules of the ``ray`` package) and the commands ``stack.json`` records
   for the components (the Gyre services). A path alone never takes anything else: a
   user's ``python script.py <home>/data.csv`` is the user's, and a generic interpreter
   belongs to the stack only through rules 1 to 3 (the stack id, a recorded session or
   group, a stack port).

Rules 3 and 4 never take a process whose environment (or, when it has none, nearest
ancestor's) names another stack. No rule ever takes the current process, its
ancestors or a ``gyre`` CLI process (a concurrent ``gyre down`` or ``gyre logs -f``).

:func:`scan` reads the process table into :class:`ProcessInfo` records and
:func:`stack_members` decides on them, so the rules are testable on fake records.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from gyre.stack._components import STACK_ID_ENV

__all__ = [
    "ProcessInfo",
    "RecordedProcess",
    "StackMarks",
    "read_recorded",
    "record_processes",
    "scan",
    "spared_pids",
    "stack_members",
]

# Seconds of slack when comparing process start times and boot times (both are
# derived from clock ticks and rounded).
_CLOCK_SLACK_S = 1.0
# Entries kept in stack.pids; components that crash and restart add one each time.
_MAX_RECORDED = 64
# Ray renames its Python processes ``ray::<Name>`` (workers, agents) and
# ``ray-dashboard-<Module>-<n>`` (the dashboard's subprocesses) with setproctitle.
_RAY_TITLE_PREFIXES = ("ray::", "ray-dashboard-")
# Executables of the stack's components, by file name (argv[0] or the resolved exe).
_COMPONENT_EXECUTABLES = frozenset(
    {"nats-server", "weed", "tritonserver", "raylet", "gcs_server", "supervisord"}
)
# Modules the stack runs with ``python -m``; Ray runs its own (``ray.*``) too.
_COMPONENT_MODULES = frozenset({"supervisor.supervisord"})
_RAY_MODULE_PREFIX = "ray."
# Generic interpreters: what they run, not their name, says whether they are the stack's.
_INTERPRETER = re.compile(r"python(\d+(\.\d+)*)?")
# Interpreter options that take a value (``-W arg`` or ``-Warg``).
_OPTIONS_WITH_VALUE = frozenset("WX")
# Ray's command-line tool belongs to the stack only as the head the stack starts.
_RAY_CLI = "ray"
_RAY_HEAD_SUBCOMMAND = "start"


@dataclass(frozen=True)
class ProcessInfo:
    """What the sweep needs to know about one live process."""

    pid: int
    ppid: int
    cmdline: tuple[str, ...]
    # Resolved path of the executable ('' when unreadable).
    exe: str = ""
    # GYRE_STACK_ID from its environment; None when absent or unreadable.
    stack_id: str | None = None
    session: int = -1
    group: int = -1
    # Seconds since the epoch.
    started: float = 0.0
    # TCP ports it listens on.
    listening: frozenset[int] = frozenset()


@dataclass(frozen=True)
class RecordedProcess:
    """A process of the stack seen alive by ``gyre up`` or ``gyre status``."""

    pid: int
    session: int
    group: int
    started: float

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "sid": self.session, "pgid": self.group, "started": self.started}


@dataclass(frozen=True)
class StackMarks:
    """How to recognise the processes of one stack (see the module docstring)."""

    # '' when unknown (stack.id lost): rule 1 then matches nothing.
    stack_id: str
    # The home and Ray's temp dir.
    paths: tuple[str, ...]
    # Every port the stack listens on (not Ray's worker range, which stacks share).
    ports: frozenset[int] = frozenset()
    recorded: tuple[RecordedProcess, ...] = ()
    # The Python environment (sys.prefix) the stack's programs run from.
    prefix: str = field(default_factory=lambda: sys.prefix)
    # argv of each component as ``stack.json`` records it (the Gyre services' commands).
    commands: tuple[tuple[str, ...], ...] = ()


def _under(path: str, root: str) -> bool:
    root = root.rstrip(os.sep) or os.sep
    return path == root or path.startswith(root + os.sep)


def _names_path(cmdline: Sequence[str], roots: Sequence[str]) -> bool:
    """Whether an argument (or the value of ``--opt=value``) is a root or inside one."""
    for arg in cmdline:
        candidates = [arg, arg.split("=", 1)[1]] if "=" in arg else [arg]
        if any(_under(c, root) for c in candidates for root in roots):
            return True
    return False


def _is_gyre_cli(cmdline: Sequence[str]) -> bool:
    """``gyre ...`` or ``python .../gyre ...`` or ``python -m gyre.cli...``."""
    if any(Path(arg).name == "gyre" for arg in cmdline[:2]):
        return True
    return len(cmdline) >= 3 and cmdline[1] == "-m" and cmdline[2].startswith("gyre.cli")


def _from_environment(info: ProcessInfo, prefix: str) -> bool:
    """Runs this environment's executables (or is a renamed Ray process)."""
    first = info.cmdline[0] if info.cmdline else ""
    return (
        (_under(info.exe, prefix) if info.exe else False)
        or _under(first, prefix)
        or first.startswith(_RAY_TITLE_PREFIXES)
    )


def _interpreter_target(args: Sequence[str]) -> tuple[str, str, Sequence[str]] | None:
    """What an interpreter's arguments (after argv[0]) run, and the arguments it gets:
    ``("module", name, args)`` for ``-m``, ``("script", path, args)`` for a file; None
    for ``-c``, stdin or a REPL."""
    position = 0
    while position < len(args):
        arg = args[position]
        position += 1
        if arg == "-":
            return None
        if not arg.startswith("-"):
            return ("script", arg, args[position:])
        if arg.startswith("--"):
            position += arg == "--check-hash-based-pycs"  # takes a value
            continue
        for i, flag in enumerate(arg[1:], start=1):
            if flag in "cm" or flag in _OPTIONS_WITH_VALUE:
                value = arg[i + 1 :]
                if not value and position < len(args):
                    value = args[position]
                    position += 1
                if flag == "c":
                    return None
                if flag == "m":
                    return ("module", value, args[position:])
                break  # -W / -X: the value is consumed, go on with the next argument
    return None


def _in_ray_package(path: str) -> bool:
    """A file of the installed ``ray`` package (Ray's dashboard, monitors, workers)."""
    parts = Path(path).parts
    return any(
        part in ("site-packages", "dist-packages") and parts[i + 1 : i + 2] == ("ray",)
        for i, part in enumerate(parts)
    )


def _is_stack_program(info: ProcessInfo, commands: Iterable[Sequence[str]]) -> bool:
    """Whether the process runs one of the stack's programs (see rule 4)."""
    cmdline = info.cmdline
    first = cmdline[0] if cmdline else ""
    if first.startswith(_RAY_TITLE_PREFIXES):
        return True
    if any(tuple(cmdline[: len(cmd)]) == tuple(cmd) for cmd in commands if cmd):
        return True
    names = {Path(first).name, Path(info.exe).name if info.exe else ""}
    if names & _COMPONENT_EXECUTABLES:
        return True
    if not any(_INTERPRETER.fullmatch(name) for name in names):
        return False
    target = _interpreter_target(cmdline[1:])
    if target is None:
        return False
    kind, value, args = target
    if kind == "module":
        return value in _COMPONENT_MODULES or value.startswith(_RAY_MODULE_PREFIX)
    script = Path(value).name
    if script == _RAY_CLI:
        return bool(args) and args[0] == _RAY_HEAD_SUBCOMMAND
    return script in _COMPONENT_EXECUTABLES or _in_ray_package(value)


def _owner_id(info: ProcessInfo, table: Mapping[int, ProcessInfo]) -> str | None:
    """The stack id of the process, else of its nearest ancestor that has one."""
    seen: set[int] = set()
    current: ProcessInfo | None = info
    while current is not None and current.pid not in seen:
        if current.stack_id is not None:
            return current.stack_id
        seen.add(current.pid)
        current = table.get(current.ppid)
    return None


def _in_recorded_group(info: ProcessInfo, recorded: Iterable[RecordedProcess]) -> bool:
    return any(
        (info.session == r.session or info.group == r.group)
        and info.started >= r.started - _CLOCK_SLACK_S
        for r in recorded
    )


def stack_members(
    table: Mapping[int, ProcessInfo], marks: StackMarks, *, spared: Iterable[int] = ()
) -> list[ProcessInfo]:
    """The processes of ``table`` that belong to the stack ``marks`` describes.

    ``spared`` are never taken (the caller and its ancestors, see :func:`spared_pids`).
    """
    spare = set(spared)
    found: list[ProcessInfo] = []
    for info in table.values():
        if info.pid in spare or _is_gyre_cli(info.cmdline):
            continue
        if marks.stack_id and info.stack_id == marks.stack_id:
            found.append(info)
            continue
        if _in_recorded_group(info, marks.recorded):
            found.append(info)
            continue
        owner = _owner_id(info, table)
        if owner is not None and owner != marks.stack_id:
            continue  # another stack's, or a process launched from one
        if not _from_environment(info, marks.prefix):
            continue
        by_port = bool(info.listening & marks.ports)
        by_path = _is_stack_program(info, marks.commands) and _names_path(info.cmdline, marks.paths)
        if by_port or by_path:
            found.append(info)
    return found


def spared_pids() -> set[int]:
    """This process and its ancestors."""
    me = psutil.Process()
    spared = {me.pid}
    with contextlib.suppress(psutil.Error):
        spared |= {parent.pid for parent in me.parents()}
    return spared


def _listening_ports() -> dict[int, set[int]]:
    ports: dict[int, set[int]] = {}
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.pid and conn.laddr:
                ports.setdefault(conn.pid, set()).add(int(conn.laddr.port))
    return ports


def scan() -> dict[int, ProcessInfo]:
    """Every live process (zombies excluded) as a :class:`ProcessInfo`, keyed by pid."""
    listening = _listening_ports()
    table: dict[int, ProcessInfo] = {}
    attrs = ["pid", "ppid", "cmdline", "exe", "create_time", "status"]
    for proc in psutil.process_iter(attrs):
        info = proc.info
        if info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        stack_id: str | None = None
        session = group = -1
        with contextlib.suppress(psutil.Error, OSError):
            stack_id = proc.environ().get(STACK_ID_ENV)
        with contextlib.suppress(OSError):
            session = os.getsid(proc.pid)
            group = os.getpgid(proc.pid)
        table[proc.pid] = ProcessInfo(
            pid=proc.pid,
            ppid=int(info.get("ppid") or 0),
            cmdline=tuple(info.get("cmdline") or ()),
            exe=str(info.get("exe") or ""),
            stack_id=stack_id,
            session=session,
            group=group,
            started=float(info.get("create_time") or 0.0),
            listening=frozenset(listening.get(proc.pid, ())),
        )
    return table


def read_recorded(path: Path) -> tuple[RecordedProcess, ...]:
    """The processes recorded in ``stack.pids``; none when it is missing, unreadable
    or from an earlier boot (its pids may since have been reused)."""
    try:
        data = json.loads(path.read_text())
        if abs(float(data["boot_time"]) - psutil.boot_time()) > _CLOCK_SLACK_S:
            return ()
        return tuple(
            RecordedProcess(int(e["pid"]), int(e["sid"]), int(e["pgid"]), float(e["started"]))
            for e in data["processes"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return ()


def record_processes(path: Path, pids: Iterable[int]) -> None:
    """Add the session, group and start time of each live pid to ``stack.pids``."""
    known = {r.pid: r for r in read_recorded(path)}
    for pid in pids:
        if not pid or pid in known:
            continue
        with contextlib.suppress(psutil.Error, OSError):
            known[pid] = RecordedProcess(
                pid, os.getsid(pid), os.getpgid(pid), psutil.Process(pid).create_time()
            )
    entries = list(known.values())[-_MAX_RECORDED:]
    payload = {"boot_time": psutil.boot_time(), "processes": [e.to_json() for e in entries]}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload) + "\n")
    os.replace(tmp, path)
