"""Mutation testing of the modules where a silent fault changes results (mutmut, pinned in requirements.txt).

Each mutant is one small fault planted in one function (an operator swapped, a constant or a
string changed, an argument dropped, a condition negated). mutmut runs, for each mutant, only
the tests that call the mutated function, chosen from the targeted tests of its module
(``TESTS`` below), and records whether one of them failed ("killed") or all passed ("survived").
The score of a module is killed / (all mutants - those listed as equivalent in
``benchmarks/mutation_equivalents.yaml``, each with why). Statements that cannot change a
result (``raise`` with its message, log lines) are not mutated (``SKIP_LINES``).

Runs in a scratch copy (``--workdir``), never in the checkout, under ``nice`` with one worker
by default (the machine is shared), so it can be rerun on any tree:

    python benchmarks/mutation.py                                  # every module of MODULES
    python benchmarks/mutation.py --modules partition.py metrics.py
    python benchmarks/mutation.py --report-only                    # the last run's table again

Prints the score per module, PASS/FAIL against ``--target``, and every surviving mutant as a diff.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "fhbench"

# Module globs (relative to src/fhbench) mutated by default. A glob that matches no file (e.g. a
# module another branch has not merged yet) is reported and skipped.
MODULES = [
    "algorithms/*.py",
    "batched.py",
    "mixing.py",
    "partition.py",
    "metrics.py",
    "reporting/stats.py",
    "reporting/selection.py",
    "provenance.py",
]

# Targeted tests per module glob: the tests that exercise the module's behaviour. mutmut narrows
# them further per mutated function (it records which tests call which function in one clean run).
TESTS = {
    # The engine's tests of what algorithms promise beyond one round: partial participation and
    # catch-up, hospitals that join late, both evaluation points, resuming from a checkpoint.
    "algorithms/*.py": [
        "tests/algorithms",
        "tests/test_federation.py",
        "tests/test_batched.py",
        "tests/test_mixing.py",
        "tests/test_participation.py",
        "tests/test_newcomers.py",
        "tests/test_federation_eval_points.py",
        "tests/test_known_answers.py",
        "tests/test_federation_resume.py",
    ],
    "batched.py": ["tests/test_batched.py", "tests/models/test_wav2vec2.py", "tests/test_federation.py", "tests/algorithms/test_epfl.py"],
    # The mixing matrices' readers: EPFL's tests, the figures and REPORT.md that draw and cite them.
    "mixing.py": [
        "tests/test_mixing.py",
        "tests/algorithms/test_epfl.py",
        "tests/algorithms/test_epfl_weights.py",
        "tests/algorithms/test_epfl_extensions.py",
        "tests/reporting/test_figures.py",
        "tests/reporting/test_report.py",
        "tests/test_partition_planted.py",
    ],
    "partition.py": [
        "tests/test_partition.py",
        "tests/test_partition_natural.py",
        "tests/test_partition_planted.py",
        "tests/test_partition_realistic.py",
        "tests/test_newcomers.py",
        "tests/test_config.py",
    ],
    "metrics.py": ["tests/test_metrics.py", "tests/reporting/test_tables.py", "tests/reporting/test_selection.py"],
    "reporting/stats.py": ["tests/reporting"],
    "reporting/selection.py": ["tests/reporting"],
    "provenance.py": ["tests/test_provenance.py", "tests/reporting/test_report.py"],
}

# Lines whose statements are not mutated: they cannot change a result, only the text of an error
# or a log line (errors are checked by tests/test_bad_input.py and friends, outside this scope).
SKIP_LINES = [r"^\s*raise \w+\(", r"\blog(ger)?\.(debug|info|warning|error)\(", r"\bwarnings\.warn\("]

# What the workdir needs besides src/ and tests/: files the targeted tests read (tests/test_config.py
# runs Snakemake on the workflow).
ALSO_COPY = ["config", "report", "examples", "Snakefile", "rules", "workflow"]

EQUIVALENTS = REPO / "benchmarks" / "mutation_equivalents.yaml"
KILLED, SURVIVED, NO_TESTS, TIMEOUT, NOT_RUN = "killed", "survived", "no tests", "timeout", "not checked"
EQUIVALENT = "equivalent"


def resolve_modules(globs: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Module path (relative to src/fhbench) -> its targeted tests; and the globs that matched nothing."""
    found, missing = {}, []
    for pattern in globs:
        # a package's __init__ (here the algorithm registry) only when named: it computes no result
        paths = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.glob(pattern) if p.name != "__init__.py" or "*" not in pattern)
        if not paths:
            missing.append(pattern)
        for path in paths:
            tests = next((t for g, t in TESTS.items() if fnmatch.fnmatch(path, g)), None)
            if tests is None:
                sys.exit(f"fhbench: error: --modules {path}: no targeted tests known; add its glob to TESTS in {Path(__file__).name}")
            found[path] = [t for t in tests if (REPO / t).exists()]
    return found, missing


def write_workdir(workdir: Path, modules: dict[str, list[str]]) -> None:
    """A scratch copy of the package and its tests with a [tool.mutmut] section for these modules."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", ".pytest_cache")
    for name in ["src", "tests", *ALSO_COPY]:
        if (REPO / name).exists():
            if (REPO / name).is_dir():
                shutil.copytree(REPO / name, workdir / name, ignore=ignore)
            else:
                shutil.copy2(REPO / name, workdir / name)
    tests = sorted({t for ts in modules.values() for t in ts})
    settings = {
        "source_paths": ["src"],
        "only_mutate": [f"src/fhbench/{m}" for m in modules],
        "do_not_mutate_patterns": SKIP_LINES,
        "pytest_add_cli_args_test_selection": tests,
        # the slow end-to-end tests stay out: they repeat, through the workflow, what the targeted tests check
        "pytest_add_cli_args": ["-m", "not slow", "-p", "no:cacheprovider"],
        "use_git_change_detection": False,
        # a mutant's tests get 2 x 4 x (their CPU seconds + 1) of CPU time before it counts as a
        # timeout (mutmut's default 15 spends long minutes on each endless loop); CPU time, so
        # a loaded machine does not turn kills into timeouts
        "timeout_multiplier": 4.0,
        "also_copy": [name for name in ALSO_COPY if (REPO / name).exists()],
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    (workdir / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text() + "\n".join(lines) + "\n")
    # a git checkout of its own: tests/test_provenance.py checks git_state against git in this tree
    git = ["git", "-c", "user.name=mutation", "-c", "user.email=mutation@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "snapshot for mutation testing"]):
        subprocess.run(git + args, cwd=workdir, check=True, capture_output=True)


def run_mutmut(workdir: Path, jobs: int, niceness: int) -> float:
    env = dict(os.environ, HF_HUB_OFFLINE="1", DVC_NO_ANALYTICS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    cmd = ["nice", "-n", str(niceness), sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)]
    print("$", " ".join(cmd), f"(in {workdir}; log: {workdir / 'mutmut.log'})", flush=True)
    t0 = time.perf_counter()
    with open(workdir / "mutmut.log", "w") as log:
        # A session of its own, whose autogroup gets the niceness too: with Linux's autogroup
        # scheduling (the default on desktops and many servers) ``nice`` only ranks processes
        # within one session, so a plain nice 19 still took a full share beside a CI run.
        child = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            Path(f"/proc/{child.pid}/autogroup").write_text(f"{niceness}\n")
        except OSError:
            pass  # no autogroup scheduling here (macOS, a kernel without it): nice alone ranks it
        try:
            returncode = child.wait()
        except KeyboardInterrupt:  # the terminal's Ctrl-C does not reach another session
            os.killpg(child.pid, 15)
            child.wait()
            raise
    if returncode != 0:
        tail = (workdir / "mutmut.log").read_text(errors="replace")[-3000:]
        sys.exit(f"fhbench: error: mutmut run failed (exit {returncode}); the end of {workdir / 'mutmut.log'}:\n{tail}")
    return time.perf_counter() - t0


def load_equivalents() -> list[dict]:
    import yaml

    if not EQUIVALENTS.exists():
        return []
    items = yaml.safe_load(EQUIVALENTS.read_text()) or []
    for i, item in enumerate(items):
        if not {"function", "mutated", "why"} <= set(item):
            sys.exit(f"fhbench: error: {EQUIVALENTS}: entry {i} needs function, mutated and why")
    return items


def mutated_lines(diff: str) -> list[str]:
    return [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]


def function_of(mutant: str) -> str:
    """fhbench.x.x_f__mutmut_3 -> fhbench.x.f; fhbench.x.xǁCǁm__mutmut_1 -> fhbench.x.C.m."""
    module, _, name = mutant.rpartition(".")
    name = re.sub(r"__mutmut_\d+$", "", name)
    name = name[2:] if name.startswith("x_") else name.lstrip("x").replace("ǁ", ".").strip(".")
    return f"{module}.{name}"


def collect(workdir: Path, modules: list[str]) -> list[dict]:
    """One row per mutant: module, name, status, diff (diffs only for survivors)."""
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    rows = []
    for module in modules:
        path = Path("src/fhbench") / module
        meta = Path("mutants") / f"{path}.meta"
        if not meta.exists():
            continue
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            status = status_by_exit_code[code]
            diff = get_diff_for_mutant(name, path=path) if status != KILLED else ""
            rows.append({"module": module, "mutant": name, "status": status, "diff": diff})
    return rows


def mark_equivalents(rows: list[dict], equivalents: list[dict]) -> list[dict]:
    """Survivors matching a listed equivalent (same function, same mutated line) become "equivalent"
    with its reason; returns the listed entries no survivor matched (stale: fix or drop them)."""
    used = set()
    for row in rows:
        if row["status"] != SURVIVED:
            continue
        for i, eq in enumerate(equivalents):
            if eq["function"] == function_of(row["mutant"]) and eq["mutated"].strip() in mutated_lines(row["diff"]):
                row["status"], row["why"] = EQUIVALENT, eq["why"]
                used.add(i)
                break
    return [eq for i, eq in enumerate(equivalents) if i not in used]


def score_row(label: str, counts: Counter, target: float) -> tuple[str, bool]:
    """One table row; a timeout counts as a kill (the mutant made a test run past its bound)."""
    total = sum(counts.values())
    scored = total - counts[EQUIVALENT] - counts[NOT_RUN]  # of the mutants checked so far
    score = (counts[KILLED] + counts[TIMEOUT]) / scored if scored else float("nan")
    passed = score >= target and not counts[NOT_RUN]
    cells = [label, total, counts[KILLED], counts[TIMEOUT], counts[SURVIVED], counts[NO_TESTS], counts[EQUIVALENT], counts[NOT_RUN]]
    verdict = "PASS" if passed else "FAIL" if not counts[NOT_RUN] else "incomplete"
    return "| " + " | ".join(map(str, cells)) + f" | {score:.1%} | {verdict} |", passed


def report(rows: list[dict], modules: list[str], missing: list[str], target: float) -> tuple[str, bool]:
    stale = mark_equivalents(rows, load_equivalents())
    out = [
        "| module | mutants | killed | timeout | survived | no tests | equivalent | not run | score | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    ok = True
    for module in modules:
        counts = Counter(r["status"] for r in rows if r["module"] == module)
        if not counts:
            out.append(f"| {module} | 0 | | | | | | | | no mutants |")
            continue
        line, passed = score_row(module, counts, target)
        out.append(line)
        ok &= passed
    out.append(score_row("**all**", Counter(r["status"] for r in rows), target)[0].rsplit("|", 2)[0] + f"| target {target:.0%} |")
    out += [f"\n{pattern}: no such module in this tree, skipped" for pattern in missing]
    prefixes = tuple("fhbench." + m.removesuffix(".py").replace("/", ".") + "." for m in modules)
    for eq in stale:
        if eq["function"].startswith(prefixes):
            out.append(f"\nnote: a listed equivalent no survivor matches (fixed, renamed or now killed): {eq['function']}: {eq['mutated']}")
    for status, title in ((SURVIVED, "Surviving mutants"), (NO_TESTS, "Mutants no targeted test reaches"), ("suspicious", "Suspicious")):
        found = [r for r in rows if r["status"] == status]
        if found:
            out.append(f"\n## {title} ({len(found)})\n")
            for r in found:
                out.append(f"{r['mutant']}\n" + "\n".join("    " + line for line in r["diff"].splitlines()[2:]))
    listed = [r for r in rows if r["status"] == EQUIVALENT]
    if listed:
        out.append(f"\n## Equivalent mutants ({len(listed)}, from {EQUIVALENTS.relative_to(REPO)})\n")
        out.extend(f"- {r['mutant']}: {r['why']}" for r in listed)
    return "\n".join(out), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="+", default=MODULES, help="globs relative to src/fhbench (default: %(default)s)")
    parser.add_argument(
        "--workdir", type=Path, default=REPO / ".mutation", help="scratch copy, replaced on every run (default: %(default)s)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (default 1: the machine is shared)")
    parser.add_argument("--nice", type=int, default=19, help="niceness of the run (default %(default)s)")
    parser.add_argument("--target", type=float, default=0.85, help="killed fraction each module must reach (default %(default)s)")
    parser.add_argument("--report-only", action="store_true", help="print the table of the run already in --workdir")
    args = parser.parse_args()

    modules, missing = resolve_modules(args.modules)
    workdir = args.workdir.resolve()
    if not args.report_only:
        load_equivalents()  # a malformed list fails before an hour of work, not after
        print(f"load average {os.getloadavg()[0]:.1f}; mutating {len(modules)} modules: {', '.join(modules)}", flush=True)
        write_workdir(workdir, modules)
        cpu0 = os.times()
        wall = run_mutmut(workdir, args.jobs, args.nice)
        cpu1 = os.times()
        print(
            f"mutmut: {wall:.0f} s wall, {cpu1.children_user + cpu1.children_system - cpu0.children_user - cpu0.children_system:.0f} s CPU"
        )
    elif not (workdir / "mutants").is_dir():
        sys.exit(f"fhbench: error: --workdir {workdir}: no mutmut run there; run without --report-only first")
    text, ok = report(collect(workdir, list(modules)), list(modules), missing, args.target)
    (workdir / "report.md").write_text(text + "\n")
    print(text)
    print(f"\n(also in {workdir / 'report.md'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
