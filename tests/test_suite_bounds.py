"""No test waits without a bound: a hung child fails its test with a message instead of hanging CI.

Read from the tests' own source: every subprocess call and every wait on a process carries a
timeout, no test reads a child's pipe directly (tests.bounded.LineReader and read_until_closed
do, with a timeout), and every polling loop that sleeps checks a deadline.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

SUBPROCESS_CALLS = {"run", "call", "check_call", "check_output"}
# The watch test of tests/test_status.py is being rewritten under issue 23 (its flakiness);
# drop this exemption when that lands.
EXEMPT = {"tests/test_status.py"}


def suite_files() -> list[Path]:
    files = sorted((REPO / "tests").rglob("*.py")) + sorted((REPO / "examples").glob("*/tests/*.py"))
    return [f for f in files if f.relative_to(REPO).as_posix() not in EXEMPT | {"tests/bounded.py"}]


def unbounded(source: str) -> list[str]:
    """The waits in ``source`` that have no bound, as 'line: code'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, owner = node.func.attr, ast.unparse(node.func.value)
            has_timeout = any(k.arg == "timeout" for k in node.keywords)
            if name in SUBPROCESS_CALLS and owner == "subprocess" and not has_timeout:
                found.append(f"{node.lineno}: {ast.unparse(node)[:100]} (no timeout=)")
            elif name in ("wait", "communicate") and not has_timeout and not node.args:
                found.append(f"{node.lineno}: {ast.unparse(node)[:100]} (no timeout)")
            elif name in ("read", "readline", "readlines") and ("stdout" in owner or "stderr" in owner):
                found.append(f"{node.lineno}: {ast.unparse(node)[:100]} (a pipe read blocks: use tests.bounded.LineReader)")
            elif name == "read" and owner == "os":
                found.append(f"{node.lineno}: {ast.unparse(node)[:100]} (a blocking read: use tests.bounded.read_until_closed)")
        if isinstance(node, ast.While):
            loop = ast.unparse(node)
            if "sleep(" in loop and "deadline" not in loop and "monotonic" not in loop:
                found.append(f"{node.lineno}: while {ast.unparse(node.test)[:80]} (sleeps without a deadline)")
    return sorted(found, key=lambda item: int(item.split(":")[0]))


def test_every_wait_in_the_suite_has_a_bound():
    problems = {f.relative_to(REPO).as_posix(): unbounded(f.read_text()) for f in suite_files()}
    assert not {k: v for k, v in problems.items() if v}


def test_the_check_finds_each_kind_of_unbounded_wait():
    source = (
        "import os, subprocess, time\n"
        "subprocess.run(['x'], capture_output=True)\n"
        "proc.wait()\n"
        "proc.communicate()\n"
        "proc.stdout.readline()\n"
        "os.read(fd, 10)\n"
        "while not done():\n    time.sleep(1)\n"
        "subprocess.run(['x'], timeout=5)\nproc.wait(timeout=5)\nevent.wait(5)\n"
        "while time.monotonic() < deadline:\n    time.sleep(1)\n"
    )
    assert [line.split(":")[0] for line in unbounded(source)] == ["2", "3", "4", "5", "6", "7"]
