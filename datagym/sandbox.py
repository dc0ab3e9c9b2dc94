"""The one place untrusted Python runs: a program per process, contained, with a verdict.

Code tasks label a generated program by running it, HumanEval grades a completion by running
its tests, and anything an LLM wrote runs here too. ``Sandbox.run(source)`` returns a
``Verdict``: ``passed`` (the program ran to its end, or exited 0), ``failed`` (it raised, or
exited non-zero), ``timeout`` (wall-clock or CPU-time limit), ``memory`` (it ran out of its
address space) or ``crashed`` (killed by a signal, or over the output limit), with a reason.

How a program is contained (everything on these machines, CI included, runs as root, and
``RLIMIT_NPROC`` does not bind root, so it cannot be the fence on its own):

- **a warm worker** (a fork server): a Python process started once per pool slot with an empty
  environment, in isolated mode (``-I``), running this very file as a script so that nothing but
  the standard library is loaded in it. Each program is a fork of it (about a millisecond,
  against tens for a fresh interpreter). Where the machine allows (root, or a user with
  unprivileged user namespaces) the worker enters a new **network namespace** (only a loopback
  device, down: no address, local or remote, can be reached) and a **mount namespace** in which
  ``/tmp``, ``/var/tmp`` and ``/dev/shm`` are fresh size-capped tmpfs mounts, so the host's
  temporary files are out of sight.
- **an unprivileged uid per worker** (when the worker is root): the program drops to it, so its
  process limit binds and the host's files, processes and ``/proc/<pid>/environ`` are closed to
  it. When the program ends, a sweeper process of that uid kills every process of that uid
  (``kill(-1, SIGKILL)``): a fork bomb's children, daemons, anything that started its own session.
- **limits** on CPU time, address space, file size, open files and processes; a temporary
  working directory, removed afterwards; an environment of a few plain variables; stdin from
  the caller; stdout and stderr through pipes that the worker reads up to a cap, killing the
  program at once when its output passes it.
- **a wall-clock timeout**: SIGKILL, which no handler can ignore, then the sweep.

Where the worker is not root, programs run as the caller's uid: their process limit is counted
together with the caller's processes, and they are killed by process group, so a program that
starts its own session can outlive its run. Where a namespace is refused (no root and no
unprivileged user namespaces, or a container that forbids ``unshare``), the sandbox still runs
without it: ``Sandbox.isolation`` says what holds and ``Sandbox.notes`` why not; without a
network namespace a program can reach the network. ``require=`` turns a shortfall into an error.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import struct
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterable, Sequence

PASSED, FAILED, TIMEOUT, MEMORY, CRASHED = "passed", "failed", "timeout", "memory", "crashed"
STATUSES = (PASSED, FAILED, TIMEOUT, MEMORY, CRASHED)

#: the exit code the program's runner uses for a MemoryError (a program that exits with it
#: itself gets the memory verdict: its own choice, which harms nothing)
EXIT_MEMORY = 201
#: the helper's exit code when it could not start the program
EXIT_SETUP = 202
#: the first uid of the range programs run as when the worker is root (one uid per worker, by
#: its pid, so one worker's fork bomb does not use up another's process limit)
UID_BASE = 1_000_000
ISOLATION_KEYS = ("network_namespace", "private_tmp", "unprivileged_uid")


@dataclass(frozen=True)
class SandboxLimits:
    """What one program may use."""

    wall_seconds: float = 10.0  #: wall-clock seconds from start to end, then SIGKILL
    cpu_seconds: float = 10.0  #: CPU seconds (RLIMIT_CPU; SIGXCPU, then SIGKILL a second later)
    memory_bytes: int = 1 << 30  #: address space (RLIMIT_AS): past it an allocation fails
    file_bytes: int = 16 << 20  #: largest file it may write (RLIMIT_FSIZE)
    processes: int = 64  #: processes and threads of its uid (RLIMIT_NPROC; binds a non-root uid)
    open_files: int = 256  #: RLIMIT_NOFILE
    output_bytes: int = 1 << 20  #: stdout and stderr together; past it the program is killed

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"Expected SandboxLimits.{f.name} to be a positive number, got {value!r}.")


@dataclass(frozen=True)
class Verdict:
    """What running one program came to."""

    status: str  #: one of STATUSES
    reason: str = ""  #: why, in a line ("AssertionError: ...", "wall-clock limit of 2 s", ...)
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None  #: the program's exit code, when it exited
    signal: str | None = None  #: the signal that ended it, when one did
    seconds: float = 0.0  #: wall-clock seconds it ran
    truncated: bool = False  #: its output passed ``output_bytes`` and was cut there

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# the host side: a pool of warm workers
# ---------------------------------------------------------------------------------------------


class SandboxError(RuntimeError):
    """The sandbox itself failed: a worker would not start, or the isolation asked for is not
    available here."""


class _Worker:
    """One warm worker process and the pipes to it (used by one thread at a time)."""

    def __init__(self, isolate: bool, tmpfs_bytes: int, drop_uid: bool) -> None:
        import subprocess

        options = json.dumps({"isolate": isolate, "tmpfs_bytes": tmpfs_bytes, "drop_uid": drop_uid})
        self.process = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__), "--worker", options],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={},  # the worker (and so every program) starts from an empty environment
            close_fds=True,
            start_new_session=True,  # the caller's Ctrl-C reaches the caller, who closes us
        )
        hello = _read_message(self.process.stdout)
        if hello is None:
            error = self.process.stderr.read().decode("utf-8", "replace").strip()
            self.process.wait()
            raise SandboxError(f"Expected the sandbox worker to start, it exited: {error or 'no output'}")
        self.isolation: dict[str, bool] = hello["isolation"]
        self.notes: list[str] = hello.get("notes", [])

    def run(self, request: dict[str, Any]) -> dict[str, Any] | None:
        try:
            _write_message(self.process.stdin, request)
            return _read_message(self.process.stdout)
        except (BrokenPipeError, OSError):
            return None

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        try:
            self.process.stdin.close()
            self.process.wait(timeout=5)
        except Exception:  # noqa: BLE001 - a worker that will not go is killed
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()


class Sandbox:
    """A pool of ``workers`` warm workers that run untrusted Python programs.

    ``isolate``: use the namespaces where the machine allows them (``False``: none).
    ``drop_uid``: as root, run programs as a uid of their own (``False``: as the caller, the
    containment of a non-root user, which the tests use to check that fallback).
    ``require``: isolation keys (``ISOLATION_KEYS``) that must hold, else ``SandboxError`` at
    the first run, e.g. ``("network_namespace",)`` where a program must never reach the network.

    Workers start on first use and stop at ``close()`` (or when the pool is garbage-collected);
    a pool pickles as its settings, so an env that holds one travels to Ray workers.

    >>> with Sandbox() as sandbox:
    ...     sandbox.run("print(sum(range(10)))").stdout
    '45\\n'
    """

    def __init__(
        self,
        workers: int = 1,
        limits: SandboxLimits | None = None,
        isolate: bool = True,
        require: Sequence[str] = (),
        tmpfs_bytes: int = 64 << 20,
        drop_uid: bool = True,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"Expected workers to be a positive integer, got {workers!r}.")
        unknown = [key for key in require if key not in ISOLATION_KEYS]
        if unknown:
            raise ValueError(f"Expected require to name isolation keys from {list(ISOLATION_KEYS)}, got {unknown}.")
        self.workers = workers
        self.limits = limits if limits is not None else SandboxLimits()
        self.isolate = bool(isolate)
        self.require = tuple(require)
        self.tmpfs_bytes = int(tmpfs_bytes)
        self.drop_uid = bool(drop_uid)
        self._pool: list[_Worker] = []
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._available = threading.Condition(self._lock)
        self._started = 0

    # -- pickling: the settings travel, the processes do not ----------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "limits": self.limits,
            "isolate": self.isolate,
            "require": self.require,
            "tmpfs_bytes": self.tmpfs_bytes,
            "drop_uid": self.drop_uid,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # -- the pool ----------------------------------------------------------------------------
    @property
    def isolation(self) -> dict[str, bool]:
        """What contains a program on this machine (starts a worker to find out)."""
        worker = self._acquire()
        try:
            return dict(worker.isolation)
        finally:
            self._release(worker)

    @property
    def notes(self) -> list[str]:
        """Why an isolation key does not hold here, one line each."""
        worker = self._acquire()
        try:
            return list(worker.notes)
        finally:
            self._release(worker)

    def _start_worker(self) -> _Worker:
        worker = _Worker(self.isolate, self.tmpfs_bytes, self.drop_uid)
        missing = [key for key in self.require if not worker.isolation.get(key)]
        if missing:
            worker.close()
            raise SandboxError(
                f"Expected the sandbox to provide {missing} (require=...), this machine does not: "
                + "; ".join(worker.notes)
            )
        return worker

    def _acquire(self) -> _Worker:
        with self._available:
            while True:
                if self._idle:
                    return self._idle.pop()
                if self._started < self.workers:
                    self._started += 1
                    break
                self._available.wait()
        try:
            worker = self._start_worker()
        except BaseException:
            with self._available:
                self._started -= 1
                self._available.notify()
            raise
        with self._lock:
            self._pool.append(worker)
        return worker

    def _release(self, worker: _Worker) -> None:
        with self._available:
            self._idle.append(worker)
            self._available.notify()

    def _discard(self, worker: _Worker) -> None:
        worker.close()
        with self._available:
            self._pool.remove(worker)
            self._started -= 1
            self._available.notify()

    def close(self) -> None:
        """Stop the workers (a later run starts them again)."""
        with self._lock:
            pool, self._pool, self._idle, self._started = self._pool, [], [], 0
        for worker in pool:
            worker.close()

    # -- running -----------------------------------------------------------------------------
    def run(self, source: str, stdin: str = "", limits: SandboxLimits | None = None) -> Verdict:
        """Run the Python program ``source`` (with ``stdin`` as its standard input)."""
        if not isinstance(source, str):
            raise TypeError(f"Expected the program as a str of Python source, got {type(source).__name__}.")
        if not isinstance(stdin, str):
            raise TypeError(f"Expected stdin as a str, got {type(stdin).__name__}.")
        request = {"source": source, "stdin": stdin, "limits": asdict(limits or self.limits)}
        worker = self._acquire()
        reply = worker.run(request)
        if reply is None or not worker.alive():
            self._discard(worker)
            return Verdict(CRASHED, reason="the sandbox worker died while running the program")
        self._release(worker)
        return Verdict(**reply)

    def run_many(
        self, sources: Iterable[str], stdins: Iterable[str] | None = None, limits: SandboxLimits | None = None
    ) -> list[Verdict]:
        """Run every program, ``workers`` at a time; the verdicts in the programs' order."""
        sources = list(sources)
        stdins = [""] * len(sources) if stdins is None else list(stdins)
        if len(stdins) != len(sources):
            raise ValueError(f"Expected one stdin per program ({len(sources)}), got {len(stdins)}.")
        if self.workers == 1 or len(sources) < 2:
            return [self.run(s, i, limits) for s, i in zip(sources, stdins)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(lambda pair: self.run(pair[0], pair[1], limits), zip(sources, stdins)))


def _write_message(stream: Any, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode("utf-8")
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def _read_message(stream: Any) -> dict[str, Any] | None:
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return json.loads(data)


# ---------------------------------------------------------------------------------------------
# the worker side: this file run as a script (standard library only from here on)
# ---------------------------------------------------------------------------------------------

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWUSER = 0x00020000, 0x40000000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 1 << 12, 1 << 14, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
PLAIN_ENVIRONMENT = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
#: standard-library modules the worker imports before any program runs (a program's own import
#: of one is then a dictionary lookup: HumanEval's tests and the code tasks use these)
PRELOADED = (
    "traceback", "collections", "itertools", "functools", "math", "re", "string", "typing", "heapq", "bisect",
    "random", "copy", "dataclasses", "statistics", "fractions", "decimal", "operator", "hashlib", "io",
)


@dataclass
class _WorkerState:
    libc: Any
    isolation: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    run_uid: int | None = None  #: the uid programs run as (when the worker is root)
    sweeper: tuple[int, int, int] | None = None  #: (pid, request fd, reply fd)
    spare: Any = None  #: the next program's process, forked ahead (a _Spare)


def _libc() -> Any:
    import ctypes
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _call(libc: Any, name: str, *args: Any) -> str | None:
    """Call a libc function; None on success, else the errno's message."""
    import ctypes

    if getattr(libc, name)(*args) != 0:
        return os.strerror(ctypes.get_errno())
    return None


def _enter_namespaces(state: _WorkerState, tmpfs_bytes: int) -> None:
    """The worker's own namespaces: network, and mounts with private temporary directories."""
    libc = state.libc
    if os.geteuid() != 0:
        # an unprivileged user may still own a user namespace, in which it may unshare the rest
        uid, gid = os.geteuid(), os.getegid()
        error = _call(libc, "unshare", CLONE_NEWUSER)
        if error:
            state.notes.append(f"no user namespace ({error}): namespaces need root or unprivileged user namespaces")
            return
        for path, text in (
            ("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", f"{uid} {uid} 1"),
            ("/proc/self/gid_map", f"{gid} {gid} 1"),
        ):
            try:
                with open(path, "w") as handle:
                    handle.write(text)
            except OSError as exc:
                state.notes.append(f"user namespace map {path} refused ({exc.strerror})")
                return
    error = _call(libc, "unshare", CLONE_NEWNET)
    state.isolation["network_namespace"] = error is None
    if error:
        state.notes.append(f"no network namespace ({error}): programs can reach the network")
    error = _call(libc, "unshare", CLONE_NEWNS)
    if error is None:
        error = _call(libc, "mount", b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    if error is None:
        options = f"size={tmpfs_bytes},mode=1777".encode()
        for path in ("/tmp", "/var/tmp", "/dev/shm"):
            if os.path.isdir(path):
                error = _private_directory(libc, path, options)
                if error:
                    break
    state.isolation["private_tmp"] = error is None
    if error:
        state.notes.append(f"no private /tmp ({error}): programs see the host's temporary directories")


def _needed_directories(with_datagym: bool = False) -> list[str]:
    """Where the interpreter and its packages live, and with ``with_datagym`` the checkout
    datagym runs from (the worker reads its own source after entering its namespaces)."""
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) if with_datagym else ""
    wanted = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, here, *sys.path) if p}
    return sorted(p for p in wanted if os.path.isdir(p))


def _private_directory(libc: Any, path: str, options: bytes) -> str | None:
    """Cover ``path`` with a fresh tmpfs, binding back read-only the interpreter's and datagym's
    own directories that were under it (reached through a descriptor of the covered directory)."""
    # a checkout or a virtual environment may sit in /tmp, as a CI job's often does
    inside = [p for p in _needed_directories(with_datagym=True) if p.startswith(path + os.sep)]
    inside = [p for p in inside if not any(p.startswith(q + os.sep) for q in inside)]  # the outermost
    covered = os.open(path, os.O_PATH | os.O_DIRECTORY) if inside else None
    try:
        error = _call(libc, "mount", b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options)
        if error or covered is None:
            return error
        for directory in inside:
            os.makedirs(directory, mode=0o755, exist_ok=True)
            source = f"/proc/self/fd/{covered}/{os.path.relpath(directory, path)}".encode()
            error = _call(libc, "mount", source, directory.encode(), None, MS_BIND | MS_REC, None)
            if error is None:  # read-only: a program may import from it, never write to it
                error = _call(libc, "mount", b"none", directory.encode(), None,
                              MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
            if error:
                return f"{error} (binding back {directory})"
        return None
    finally:
        if covered is not None:
            os.close(covered)


def _expose_interpreter(state: _WorkerState) -> None:
    """Make the interpreter's own directories readable by the programs' uid.

    The interpreter may live where only root can go (``/root/.pyenv`` here): a program, once it
    has dropped to its own uid, could then import nothing the worker had not loaded. In the
    worker's private mount namespace each such closed directory is covered by an empty tmpfs
    through which only the interpreter's directories are bound back, so the rest of it stays out
    of sight (the host's mounts are untouched)."""
    libc = state.libc
    closed: dict[str, set[str]] = {}
    for path in _needed_directories():
        parts = path.split(os.sep)[1:]
        for depth in range(1, len(parts)):
            ancestor = os.sep + os.path.join(*parts[:depth])
            if not os.stat(ancestor).st_mode & 0o001:  # others may not pass through it
                closed.setdefault(ancestor, set()).add(path)
                break
    for number, (ancestor, paths) in enumerate(sorted(closed.items())):
        stage = os.path.join("/tmp", f".datagym-stage-{number}")
        staged = []
        for index, path in enumerate(sorted(paths)):
            target = os.path.join(stage, str(index))
            os.makedirs(target)
            if _call(libc, "mount", path.encode(), target.encode(), None, MS_BIND | MS_REC, None) is None:
                staged.append((path, target))
        error = _call(libc, "mount", b"tmpfs", ancestor.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=1m")
        if error:
            state.notes.append(f"could not open {ancestor} to programs ({error}): they import only what the worker loaded")
        for path, target in staged:
            if not error:
                os.makedirs(path, mode=0o755, exist_ok=True)
                _call(libc, "mount", target.encode(), path.encode(), None, MS_BIND | MS_REC, None)
            _call(libc, "umount2", target.encode(), MNT_DETACH)
        shutil.rmtree(stage, ignore_errors=True)


def _in_user_namespace() -> bool:
    try:
        with open("/proc/self/uid_map") as handle:
            return handle.read().split()[:3] != ["0", "0", "4294967295"]
    except OSError:
        return False


def _start_sweeper(state: _WorkerState, *close_fds: int) -> None:
    """A process of the programs' uid that, when asked, kills every other process of that uid.

    ``kill(-1, SIGKILL)`` from a process of that uid reaches exactly the processes of that uid
    (other than itself; the programs' uid is one no other process uses): whatever a program left running, in any process group or session. A
    program may kill the sweeper too (it has the same uid); the worker then starts a new one."""
    request_r, request_w = os.pipe()
    reply_r, reply_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            for fd in (request_w, reply_r, *close_fds):
                os.close(fd)
            if state.sweeper is not None:
                os.close(state.sweeper[1])
                os.close(state.sweeper[2])
            os.setgroups([])
            os.setgid(state.run_uid)
            os.setuid(state.run_uid)
            while os.read(request_r, 1):
                # One call reaches them all at once: the kernel walks the process list under the
                # lock that fork takes to add a process, and a fork with SIGKILL pending fails.
                # (It returns 0 whether or not it found any, so there is nothing to loop on.)
                os.kill(-1, signal.SIGKILL)
                os.write(reply_w, b".")
        finally:
            os._exit(0)
    os.close(request_r)
    os.close(reply_w)
    if state.sweeper is not None:
        os.close(state.sweeper[1])
        os.close(state.sweeper[2])
    state.sweeper = (pid, request_w, reply_r)


def _sweep(state: _WorkerState, *close_fds: int) -> None:
    """Kill whatever is left of the program: by uid, else nothing more (its group is killed)."""
    if state.run_uid is None:
        return
    for _ in range(2):
        try:
            os.write(state.sweeper[1], b".")
            if os.read(state.sweeper[2], 1):
                return
        except OSError:
            pass
        _start_sweeper(state, *close_fds)  # a program killed it: a new one, and ask again
    raise SandboxError("Expected the sandbox's sweeper to answer, it would not start.")


def _reap() -> None:
    """Collect the exit of every child that has ended (the worker is the programs' subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _worker_main(options: dict[str, Any]) -> None:
    protocol_in = os.fdopen(os.dup(0), "rb")
    protocol_out = os.fdopen(os.dup(1), "wb")
    protocol_fds = (protocol_in.fileno(), protocol_out.fileno())
    state = _WorkerState(libc=_libc())
    state.isolation = dict.fromkeys(ISOLATION_KEYS, False)
    if options.get("isolate", True):
        _enter_namespaces(state, int(options.get("tmpfs_bytes", 64 << 20)))
    else:
        state.notes.append("namespaces turned off (isolate=False)")
    _call(state.libc, "prctl", PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans come back to be reaped
    if os.geteuid() == 0 and not _in_user_namespace() and options.get("drop_uid", True):
        state.run_uid = UID_BASE + os.getpid() % 1_000_000
        state.isolation["unprivileged_uid"] = True
        if state.isolation["private_tmp"]:
            _expose_interpreter(state)
        _start_sweeper(state, *protocol_fds)
    else:
        state.notes.append(
            "programs run as the caller's own uid: their processes are limited together with the caller's, "
            "and killed by process group (a program that starts a new session can outlive its run)"
        )
    for name in PRELOADED:  # imported once here, so a program's import of them costs nothing
        try:
            __import__(name)
        except ImportError:
            pass
    # Forked programs share the worker's memory pages until they write to them. Compiling once
    # warms the compiler's allocations, and freezing the collector's generations keeps a
    # program's first garbage collection from touching (so copying) every object the worker
    # holds: a program's start goes from about 4 ms to 1 on this machine.
    with open(os.path.abspath(__file__), encoding="utf-8") as handle:
        compile(handle.read(), "<warm-up>", "exec")
    import gc

    gc.collect()
    gc.freeze()
    # nothing the worker or a program prints may reach the protocol pipe
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    _write_message(protocol_out, {"isolation": state.isolation, "notes": state.notes})
    state.spare = _prefork(state, protocol_fds)
    while True:
        request = _read_message(protocol_in)
        if request is None:
            return
        result, spare = _run_one(state, request, protocol_fds)
        _write_message(protocol_out, result)
        # after the answer, while the caller reads it: clean up, and fork the next program's process
        _finish(state, spare, protocol_fds)
        state.spare = _prefork(state, protocol_fds)


@dataclass
class _Spare:
    """A program process forked ahead of its request, set up and waiting to be told what to run."""

    pid: int
    workdir: str
    request_w: int  #: the worker writes the request here, then closes it
    out_r: int
    err_r: int
    done_r: int  #: the program's exit code (4 bytes) arrives here when it ends normally
    collected: bool = False  #: its end collected (waitpid): its pid may belong to another process now


def _prefork(state: _WorkerState, protocol_fds: tuple[int, ...]) -> _Spare:
    import tempfile

    workdir = tempfile.mkdtemp(prefix="datagym-sandbox-")
    if state.run_uid is not None:
        os.chown(workdir, state.run_uid, state.run_uid)
    os.chmod(workdir, 0o700)
    request_r, request_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        keep = (request_r, out_w, err_w, done_w)
        try:
            for fd in (request_w, out_r, err_r, done_r, *protocol_fds, *(state.sweeper or ())[1:]):
                os.close(fd)
        except BaseException:  # noqa: BLE001
            os._exit(EXIT_SETUP)
        _program_process(state, workdir, *keep)
    for fd in (request_r, out_w, err_w, done_w):
        os.close(fd)
    return _Spare(pid, workdir, request_w, out_r, err_r, done_r)


def _run_one(state: _WorkerState, request: dict[str, Any], protocol_fds: tuple[int, ...]) -> tuple[dict[str, Any], _Spare]:
    """Run one request on the spare process (forked ahead); returns the verdict, and the spare
    to clean up after the verdict has been sent."""
    limits = SandboxLimits(**request["limits"])
    data = json.dumps(request).encode("utf-8")
    for attempt in range(2):
        spare = state.spare if state.spare is not None else _prefork(state, protocol_fds)
        state.spare = None
        start = time.monotonic()
        try:
            os.write(spare.request_w, struct.pack(">I", len(data)))
            view = memoryview(data)
            while view:
                view = view[os.write(spare.request_w, view[:65536]):]
            break
        except OSError:  # the spare died before its turn (a sweep, a signal): fork another
            _finish(state, spare, protocol_fds)
            if attempt:
                raise
    os.close(spare.request_w)
    spare.request_w = -1
    return _watch(state, spare, limits, start, protocol_fds), spare


def _finish(state: _WorkerState, spare: _Spare, protocol_fds: tuple[int, ...]) -> None:
    """After a verdict is sent: collect the program's end, kill what it left, remove its files."""
    for fd in (spare.request_w, spare.out_r, spare.err_r, spare.done_r):
        if fd >= 0:
            os.close(fd)
    if not spare.collected:
        if state.run_uid is None:
            try:
                os.killpg(spare.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.kill(spare.pid, signal.SIGKILL)  # a program that reported its end early ends now
        except ProcessLookupError:
            pass
        os.waitpid(spare.pid, 0)
        spare.collected = True
    _sweep(state, *protocol_fds)
    _reap()
    shutil.rmtree(spare.workdir, ignore_errors=True)


def _watch(
    state: _WorkerState, spare: _Spare, limits: SandboxLimits, start: float, protocol_fds: tuple[int, ...]
) -> dict[str, Any]:
    """Read the program's output until it ends, killing it at the wall-clock limit or when its
    output passes the cap; then its verdict. ``status`` is a wait status, or None where the
    program reported its exit code itself (the common end: the worker need not wait for the
    kernel to tear the process down before answering)."""
    out_r, err_r, done_r, pid = spare.out_r, spare.err_r, spare.done_r, spare.pid
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    size, truncated, killed_for = 0, False, None
    reported: bytes = b""
    open_fds = [out_r, err_r, done_r]
    deadline = start + limits.wall_seconds
    swept = False

    def kill() -> None:
        for kill_one in (os.kill, os.killpg):
            try:
                kill_one(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    while open_fds:
        now = time.monotonic()
        if done_r not in open_fds and not swept and not select.select(open_fds, [], [], 0)[0]:
            # the program has ended, but something it started still holds its output open:
            # kill that now, so the pipes close
            swept = True
            _sweep(state, *protocol_fds)
            if state.run_uid is None:
                kill()
            deadline = min(deadline, now + 0.5) if killed_for is None else deadline
        if killed_for is None and now >= deadline:
            if done_r not in open_fds:
                break  # stragglers outside the sweep's reach hold the pipes: stop reading
            killed_for = "wall"
            kill()
            deadline = now + 5.0
        elif killed_for is not None and now >= deadline:
            break
        ready, _, _ = select.select(open_fds, [], [], max(0.0, deadline - now))
        for fd in ready:
            data = os.read(fd, 65536)
            if fd == done_r:
                reported += data
                if not data or len(reported) >= 4:
                    open_fds.remove(done_r)
                continue
            if not data:
                open_fds.remove(fd)
                continue
            room = limits.output_bytes - size
            if len(data) > room:
                data, truncated = data[: max(room, 0)], True
            size += len(data)
            chunks[fd].append(data)
            if truncated and killed_for is None:
                killed_for = "output"
                kill()
    seconds = time.monotonic() - start
    if len(reported) >= 4 and killed_for is None:
        (code,) = struct.unpack(">i", reported[:4])
        status = (code & 0xFF) << 8  # as a wait status of a normal exit with that code
    else:
        status = os.waitpid(pid, 0)[1]
        spare.collected = True
    stdout = b"".join(chunks[out_r]).decode("utf-8", "replace")
    stderr = b"".join(chunks[err_r]).decode("utf-8", "replace")
    return _verdict(status, killed_for, limits, stdout, stderr, seconds, truncated)


def _verdict(
    status: int | None, killed_for: str | None, limits: SandboxLimits, stdout: str, stderr: str, seconds: float,
    truncated: bool,
) -> dict[str, Any]:
    exit_code = signal_name = None
    if status is not None:
        if os.WIFEXITED(status):
            exit_code = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            signal_name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
    last_line = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "")
    if killed_for == "wall":
        name, reason = TIMEOUT, f"wall-clock limit of {limits.wall_seconds:g} s"
    elif killed_for == "output":
        name, reason = CRASHED, f"output limit: more than {limits.output_bytes} bytes"
    elif signal_name == "SIGXCPU" or (signal_name == "SIGKILL" and seconds >= limits.cpu_seconds):
        name, reason = TIMEOUT, f"CPU-time limit of {limits.cpu_seconds:g} s"
    elif signal_name == "SIGXFSZ":
        name, reason = CRASHED, f"file size limit of {limits.file_bytes} bytes (SIGXFSZ)"
    elif signal_name is not None:
        name, reason = CRASHED, f"killed by {signal_name}"
    elif exit_code == 0:
        name, reason = PASSED, ""
    elif exit_code == EXIT_MEMORY:
        name, reason = MEMORY, last_line or f"address-space limit of {limits.memory_bytes} bytes"
    elif exit_code == EXIT_SETUP:
        name, reason = CRASHED, "the sandbox could not start the program"
    else:
        name, reason = FAILED, last_line or f"exit code {exit_code}"
    return {
        "status": name, "reason": reason, "stdout": stdout, "stderr": stderr, "exit_code": exit_code,
        "signal": signal_name, "seconds": seconds, "truncated": truncated,
    }


def _user_processes() -> int:
    """How many processes the caller's uid runs now (for its process limit, where it is not root)."""
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                pass
    return count


def _program_process(state: _WorkerState, workdir: str, request_r: int, out_w: int, err_w: int, done_w: int) -> None:
    """The program's own process, forked ahead: set up and drop privileges, wait for the request,
    apply its limits, run its source; never returns.

    Signal dispositions stay the interpreter's own (SIGPIPE and SIGXFSZ ignored, as in any
    ``python`` run): the worker never changes them. The end is reported on ``done_w`` (the
    exit code) after stdout and stderr are closed, so the worker answers without waiting for the
    kernel to tear the process down. The program could write that pipe itself: it can say no
    more than an exit code it could have exited with."""
    import resource

    try:
        _call(state.libc, "prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the worker gone: gone too
        os.setsid()
        os.chdir(workdir)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.dup2(request_r, 3)
        os.dup2(done_w, 4)
        os.closerange(5, 65536)
        request_r, done_w = 3, 4
        if state.run_uid is not None:
            os.setgroups([])
            os.setgid(state.run_uid)
            os.setuid(state.run_uid)
        header = _read_exactly(request_r, 4)
        if len(header) < 4:
            os._exit(0)  # the worker is closing: no program for this spare
        (length,) = struct.unpack(">I", header)
        request = json.loads(_read_exactly(request_r, length))
        os.close(request_r)
        limits = SandboxLimits(**request["limits"])
        if request["stdin"]:
            with open(".stdin", "w", encoding="utf-8") as handle:
                handle.write(request["stdin"])
            stdin_fd = os.open(".stdin", os.O_RDONLY)
            os.unlink(".stdin")
        else:
            stdin_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin_fd, 0)
        os.close(stdin_fd)
        cpu = max(1, int(limits.cpu_seconds + 0.999))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if state.run_uid is not None:
            # one more than asked: the sweeper is a process of the same uid
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes + 1, limits.processes + 1))
        else:
            processes = _user_processes() + limits.processes
            hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
            if hard != resource.RLIM_INFINITY:
                processes = min(processes, hard)
            resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
        os.environ.clear()
        os.environ.update(PLAIN_ENVIRONMENT, HOME=workdir, TMPDIR=workdir)
        import io

        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8", errors="replace")
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace")
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
        )
        sys.argv = ["<program>"]
        source = request["source"]
        del request
    except BaseException:  # noqa: BLE001
        os._exit(EXIT_SETUP)
    code = 0
    try:
        exec(compile(source, "<program>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = 0 if exc.code is None else exc.code & 0xFF
        else:
            code = 1
            print(exc.code, file=sys.stderr)
    except MemoryError:
        code = EXIT_MEMORY
        try:
            sys.stderr.write("MemoryError: the program ran out of its address space\n")
        except BaseException:  # noqa: BLE001
            pass
    except BaseException:  # noqa: BLE001 - any exception is the program failing
        code = 1
        try:
            import traceback

            traceback.print_exc()
        except BaseException:  # noqa: BLE001
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass
    try:
        os.close(1)
        os.close(2)
        os.write(done_w, struct.pack(">i", code))
    except OSError:
        pass
    os._exit(code)  # at once: threads the program left running end here


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            break
        data += chunk
    return data


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--worker":
    _worker_main(json.loads(sys.argv[2]))
