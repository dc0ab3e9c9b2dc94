"""The sandbox: verdicts, and a hostile suite that must be contained with the right verdict.

These machines run the tests as root, so the suite checks the real containment: the
namespaces and the unprivileged uid hold here (asserted, not assumed).
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from datagym.sandbox import (
    CRASHED,
    FAILED,
    MEMORY,
    PASSED,
    TIMEOUT,
    UID_BASE,
    Sandbox,
    SandboxError,
    SandboxLimits,
    _needed_directories,
)

LIMITS = SandboxLimits(wall_seconds=3.0, cpu_seconds=2.0, memory_bytes=512 << 20, output_bytes=64 << 10, processes=32)


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(limits=LIMITS) as box:
        yield box


def run(box: Sandbox, source: str, **kwargs):
    return box.run(textwrap.dedent(source), **kwargs)


def sandbox_processes() -> list[tuple[int, int, str]]:
    """(pid, uid, state) of every live process of a sandbox uid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid = int(fields["Uid"].split()[0])
        state = fields["State"].split()[0]
        if uid >= UID_BASE and state != "Z":
            found.append((int(entry), uid, state))
    return found


def worker_pid(box: Sandbox) -> int:
    return box._pool[0].process.pid


def test_isolation_holds_on_this_machine(sandbox):
    if os.geteuid() != 0:
        pytest.skip("the full isolation needs root (CI runs as root)")
    assert sandbox.isolation == {"network_namespace": True, "private_tmp": True, "unprivileged_uid": True}
    assert sandbox.notes == []


def test_a_plain_program_passes_with_its_output(sandbox):
    verdict = run(sandbox, "print(sum(range(10)))\nimport sys; print('note', file=sys.stderr)")
    assert verdict.status == PASSED and verdict.passed
    assert verdict.stdout == "45\n" and verdict.stderr == "note\n"
    assert verdict.exit_code == 0 and verdict.signal is None and not verdict.truncated


def test_stdin_reaches_the_program(sandbox):
    verdict = run(sandbox, "import sys; print(sys.stdin.read().upper())", stdin="abc")
    assert verdict.stdout == "ABC\n"


def test_an_exception_fails_with_its_last_line_as_reason(sandbox):
    verdict = run(sandbox, "def f():\n    assert 1 == 2, 'one is not two'\nf()")
    assert verdict.status == FAILED
    assert verdict.reason == "AssertionError: one is not two"
    assert "Traceback" in verdict.stderr


def test_syntax_errors_fail(sandbox):
    verdict = run(sandbox, "def f(:\n")
    assert verdict.status == FAILED and verdict.reason.startswith("SyntaxError")


@pytest.mark.parametrize(
    ("source", "status", "reason"),
    [
        ("import sys; sys.exit(0)", PASSED, ""),
        ("import sys; sys.exit()", PASSED, ""),
        ("import sys; sys.exit(3)", FAILED, "exit code 3"),
        ("import sys; sys.exit('bad input')", FAILED, "bad input"),
        ("import os; os._exit(4)", FAILED, "exit code 4"),
    ],
)
def test_exit_codes(sandbox, source, status, reason):
    verdict = run(sandbox, source)
    assert (verdict.status, verdict.reason) == (status, reason)


def test_modules_outside_the_worker_import(sandbox):
    # the interpreter lives under /root here, closed to the programs' uid: it is bound back
    verdict = run(sandbox, "import numpy, json, xml.dom.minidom; print(int(numpy.arange(4).sum()))")
    assert verdict.status == PASSED, verdict.stderr
    assert verdict.stdout == "6\n"


def test_each_program_gets_a_fresh_working_directory_removed_afterwards(sandbox):
    first = run(sandbox, "import os; open('left.txt', 'w').write('x'); print(os.getcwd())")
    second = run(sandbox, "import os; print(os.getcwd(), os.path.exists('left.txt'), os.listdir('.'))")
    assert first.status == second.status == PASSED
    assert first.stdout.strip() != second.stdout.split()[0]
    assert second.stdout.split()[1:] == ["False", "[]"]
    # nothing is left in the worker's private /tmp but the directory of the run in progress (and
    # the interpreter's or datagym's own directories, bound back read-only when they sit in /tmp)
    bound = {os.path.relpath(p, "/tmp").split(os.sep)[0]
             for p in _needed_directories(with_datagym=True) if p.startswith("/tmp/")}
    third = run(sandbox, "import os; print(os.listdir('/tmp'))")
    left = [name for name in json.loads(third.stdout.replace("'", '"')) if name not in bound]
    assert len(left) == 1 and left[0].startswith("datagym-sandbox-"), left


# -- the hostile suite -----------------------------------------------------------------------


def test_infinite_loop_times_out_on_the_wall_clock(sandbox):
    verdict = run(sandbox, "while True:\n    pass", limits=SandboxLimits(wall_seconds=1.0, cpu_seconds=5.0))
    assert verdict.status == TIMEOUT and verdict.reason == "wall-clock limit of 1 s"
    assert 1.0 <= verdict.seconds < 2.0


def test_cpu_time_limit(sandbox):
    verdict = run(sandbox, "while True:\n    pass", limits=SandboxLimits(wall_seconds=10.0, cpu_seconds=1.0))
    assert verdict.status == TIMEOUT and verdict.reason == "CPU-time limit of 1 s"
    assert verdict.seconds < 3.0


def test_ignoring_sigterm_does_not_outlast_the_timeout(sandbox):
    verdict = run(
        sandbox,
        """
        import signal, time
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
            signal.signal(number, signal.SIG_IGN)
        while True:
            time.sleep(0.01)
        """,
        limits=SandboxLimits(wall_seconds=1.0),
    )
    assert verdict.status == TIMEOUT and verdict.seconds < 2.0


def test_fork_bomb_is_bounded_and_swept(sandbox):
    worker = worker_pid(sandbox)
    verdict = run(
        sandbox,
        """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """,
        limits=SandboxLimits(wall_seconds=2.0, processes=32),
    )
    assert verdict.status == TIMEOUT
    # contained: afterwards only the worker's sweeper, and the process it forked ahead for the
    # next program, are left of the sandbox's uid
    time.sleep(0.2)
    assert [uid for _, uid, _ in sandbox_processes()] == [UID_BASE + worker % 1_000_000] * 2
    assert worker_pid(sandbox) == worker


def test_fork_bomb_never_passes_its_process_limit(sandbox):
    # each process reports how many of its uid it could see running: never more than the limit
    verdict = run(
        sandbox,
        """
        import os, sys
        def count():
            mine, n = os.getuid(), 0
            for entry in os.listdir('/proc'):
                if entry.isdigit():
                    try:
                        n += os.stat('/proc/' + entry).st_uid == mine
                    except OSError:
                        pass
            return n
        peak, children = 0, 0
        for _ in range(200):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                import time
                time.sleep(30)
                os._exit(0)
            children += 1
            peak = max(peak, count())
        print(children, peak)
        """,
        limits=SandboxLimits(wall_seconds=10.0, processes=16),
    )
    assert verdict.status == PASSED, verdict.stderr
    children, peak = map(int, verdict.stdout.split())
    assert children <= 16 and peak <= 17  # the limit, plus the sweeper of the same uid
    assert children >= 10  # it did fork up to the limit


def test_memory_bomb_gets_the_memory_verdict(sandbox):
    grow = run(sandbox, "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))")
    assert grow.status == MEMORY and "MemoryError" in grow.reason
    big = run(sandbox, "x = bytearray(8 << 30)")
    assert big.status == MEMORY
    assert run(sandbox, "print(len(bytearray(64 << 20)))").stdout == str(64 << 20) + "\n"  # below the cap


def test_writing_and_deleting_outside_the_working_directory_is_refused(sandbox, tmp_path):
    in_tmp = tmp_path / "victim.txt"
    in_tmp.write_text("host data")
    home_dir = tempfile.mkdtemp(dir=os.path.expanduser("~"))
    in_home = Path(home_dir) / "victim.txt"
    in_home.write_text("host data")
    probe = Path("/etc/datagym-sandbox-probe")
    try:
        attempts = {
            "remove tmp": f"os.remove({str(in_tmp)!r})",
            "write tmp": f"open({str(in_tmp)!r}, 'w').write('owned')",
            "remove home": f"os.remove({str(in_home)!r})",
            "write home": f"open({str(in_home)!r}, 'w').write('owned')",
            "create in /etc": f"open({str(probe)!r}, 'w').write('owned')",
            "remove /etc/hostname": "os.remove('/etc/hostname')",
            "rmtree home": f"import shutil; shutil.rmtree({home_dir!r})",
            "chmod /etc/passwd": "os.chmod('/etc/passwd', 0o777)",
        }
        lines = ["import os, json", "done = {}"]
        for name, statement in attempts.items():
            lines += ["try:", f"    {statement}", f"    done[{name!r}] = 'done'", "except OSError as exc:",
                      f"    done[{name!r}] = type(exc).__name__"]
        lines.append("print(json.dumps(done))")
        verdict = sandbox.run("\n".join(lines))
        assert verdict.status == PASSED, verdict.stderr
        outcome = json.loads(verdict.stdout)
        assert "done" not in outcome.values(), outcome
        assert in_tmp.read_text() == "host data" and in_home.read_text() == "host data"
        assert not probe.exists() and Path("/etc/hostname").exists()
        assert oct(os.stat("/etc/passwd").st_mode & 0o777) == "0o644"
        # a program that does not catch the error fails with it
        failed = run(sandbox, f"open({str(in_home)!r}, 'w')")
        assert failed.status == FAILED and failed.reason.split(":")[0] in {"PermissionError", "FileNotFoundError"}
    finally:
        in_home.unlink(missing_ok=True)
        os.rmdir(home_dir)


def test_the_parents_environment_is_out_of_reach(monkeypatch):
    monkeypatch.setenv("DATAGYM_SANDBOX_SECRET", "hunter2-in-the-parent")
    with Sandbox(limits=LIMITS) as box:  # started after the secret is set
        verdict = run(
            box,
            """
            import os
            print(dict(os.environ))
            for entry in os.listdir('/proc'):
                for name in ('environ', 'cmdline'):
                    try:
                        print(open('/proc/%s/%s' % (entry, name), 'rb').read())
                    except OSError:
                        pass
            """,
        )
    assert verdict.status == PASSED
    assert "hunter2" not in verdict.stdout and "DATAGYM_SANDBOX_SECRET" not in verdict.stdout
    assert "'PATH'" in verdict.stdout  # the plain environment it gets instead


def test_no_socket_reaches_the_host(sandbox):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        verdict = run(sandbox, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)")
        assert verdict.status == FAILED and "Network is unreachable" in verdict.reason
        with pytest.raises(TimeoutError):
            server.accept()
        # nor any other address: the namespace has no route at all
        outside = run(sandbox, "import socket\nsocket.create_connection(('10.0.0.1', 80), timeout=2)")
        assert outside.status == FAILED and "Network is unreachable" in outside.reason
    finally:
        server.close()


def test_killing_the_parent_is_refused(sandbox):
    worker = worker_pid(sandbox)
    verdict = run(
        sandbox,
        """
        import os, signal
        refused = 0
        for target in [os.getppid(), 1] + [int(e) for e in os.listdir('/proc') if e.isdigit()]:
            if target == os.getpid():
                continue
            try:
                os.kill(target, signal.SIGKILL)
            except (PermissionError, ProcessLookupError):
                refused += 1
        print('still here', refused)
        """,
    )
    assert verdict.status == PASSED and verdict.stdout.startswith("still here")
    assert worker_pid(sandbox) == worker and sandbox._pool[0].alive()
    assert run(sandbox, "print('next')").stdout == "next\n"  # the worker serves on (its sweeper restarted if killed)


def test_output_flood_is_cut_at_the_cap_and_killed(sandbox):
    verdict = run(sandbox, "while True:\n    print('x' * 1000)", limits=SandboxLimits(output_bytes=10_000))
    assert verdict.status == CRASHED and verdict.reason == "output limit: more than 10000 bytes"
    assert verdict.truncated and len(verdict.stdout) + len(verdict.stderr) == 10_000
    assert verdict.seconds < 2.0


def test_threads_that_outlive_the_main_one_end_with_it(sandbox):
    verdict = run(
        sandbox,
        """
        import threading, time
        def linger():
            time.sleep(1.0)
            print('thread outlived main')
        threading.Thread(target=linger).start()
        print('main done')
        """,
    )
    assert verdict.status == PASSED and verdict.stdout == "main done\n"
    assert verdict.seconds < 0.9


def test_daemons_in_their_own_session_are_swept(sandbox):
    worker = worker_pid(sandbox)
    verdict = run(
        sandbox,
        """
        import os, time
        for _ in range(3):
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(60)
                os._exit(0)
        print('left daemons')
        """,
    )
    assert verdict.status == PASSED
    time.sleep(0.2)
    assert [uid for _, uid, _ in sandbox_processes()] == [UID_BASE + worker % 1_000_000] * 2  # sweeper, next program


def test_signals_end_a_program_as_crashed(sandbox):
    verdict = run(sandbox, "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    assert verdict.status == CRASHED and verdict.reason == "killed by SIGSEGV"
    assert run(sandbox, "import os\nos.abort()").reason == "killed by SIGABRT"


def test_file_size_limit(sandbox):
    verdict = run(sandbox, "open('big', 'wb').write(b'x' * (2 << 20))", limits=SandboxLimits(file_bytes=1 << 20))
    assert verdict.status == FAILED and "File too large" in verdict.reason


# -- the pool --------------------------------------------------------------------------------


def test_run_many_keeps_the_programs_order():
    with Sandbox(workers=2, limits=LIMITS) as box:
        sources = [f"import time; time.sleep({0.05 * (i % 3)}); print({i})" for i in range(8)]
        verdicts = box.run_many(sources)
    assert [v.stdout for v in verdicts] == [f"{i}\n" for i in range(8)]


def test_a_dead_worker_is_reported_and_replaced():
    with Sandbox(limits=LIMITS) as box:
        assert box.run("print(1)").passed
        os.kill(worker_pid(box), 9)
        time.sleep(0.1)
        lost = box.run("print(2)")
        assert lost.status == CRASHED and "worker died" in lost.reason
        assert box.run("print(3)").stdout == "3\n"


def test_a_sandbox_pickles_as_its_settings():
    box = Sandbox(workers=2, limits=LIMITS)
    assert box.run("print('before')").passed
    copy = pickle.loads(pickle.dumps(box))
    assert (copy.workers, copy.limits) == (2, LIMITS)
    assert copy.run("print('after')").stdout == "after\n"
    box.close()
    copy.close()


def test_without_namespaces_or_uid_it_still_contains_by_process_group():
    with Sandbox(limits=LIMITS, isolate=False, drop_uid=False) as box:
        assert box.isolation == {"network_namespace": False, "private_tmp": False, "unprivileged_uid": False}
        assert any("namespaces turned off" in note for note in box.notes)
        assert any("process group" in note for note in box.notes)
        assert box.run("print(6 * 7)").stdout == "42\n"
        slow = box.run("import time\nwhile True: time.sleep(0.01)", limits=SandboxLimits(wall_seconds=0.5))
        assert slow.status == TIMEOUT


def test_require_refuses_a_sandbox_without_what_it_names():
    with Sandbox(isolate=False, require=("network_namespace",)) as box:
        with pytest.raises(SandboxError, match=r"Expected the sandbox to provide \['network_namespace'\]"):
            box.run("print(1)")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0}, "Expected workers to be a positive integer, got 0"),
        ({"require": ("pid_namespace",)}, "Expected require to name isolation keys"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Sandbox(**kwargs)


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match=r"Expected SandboxLimits.wall_seconds to be a positive number, got -1"):
        SandboxLimits(wall_seconds=-1)


def test_programs_must_be_text(sandbox):
    with pytest.raises(TypeError, match="Expected the program as a str of Python source, got bytes"):
        sandbox.run(b"print(1)")
