"""How long `cachesync` takes to start: --help, a subcommand's help, --version, a Tab completion.

    .venv/bin/python benchmarks/startup.py [--runs 21] [--tree DIR ...]

Each case is the command a user (or the shell, for a Tab) runs, as a new process,
`python -m cachesync_cli ...` with the checkout DIR first on the path (default: this one),
and its wall time is taken from the parent. The runs of all cases and trees are interleaved
(run 1 of every case in every tree, then run 2...), so that two trees measured in one call,
e.g. `--tree /path/to/main --tree .`, see the same machine: a shared machine's speed drifts
by tens of percent within minutes. Prints the median and the fastest run of each case, and
`python -c pass` as the floor no change to cachesync can go below.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = '[sync]\nallow = ["OAuthCache", "AppInfoCache"]\n'
#: label -> (arguments after `python`, extra environment)
CASES: dict[str, tuple[list[str], dict[str, str]]] = {
    "python -c pass": (["-c", "pass"], {}),
    "cachesync --version": (["-m", "cachesync_cli", "--version"], {}),
    "cachesync --help": (["-m", "cachesync_cli", "--help"], {}),
    "cachesync invalidate --help": (["-m", "cachesync_cli", "invalidate", "--help"], {}),
    "Tab: cachesync tail --format n": (["-m", "cachesync_cli"], {
        "_CACHESYNC_COMPLETE": "complete_bash", "COMP_WORDS": "cachesync tail --format n", "COMP_CWORD": "3"}),
    "Tab: cachesync invalidate (cache names)": (["-m", "cachesync_cli"], {
        "_CACHESYNC_COMPLETE": "complete_bash", "COMP_WORDS": "cachesync invalidate ", "COMP_CWORD": "2"}),
}


def run_once(tree: Path, argv: list[str], extra: dict[str, str], cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CACHESYNC_", "_CACHESYNC_", "COMP_"))}
    env.update({"PYTHONPATH": str(tree), "COLUMNS": "100", "TERM": "dumb", **extra})
    started = time.perf_counter()
    result = subprocess.run([sys.executable, *argv], env=env, cwd=cwd, capture_output=True)
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{tree}: python {' '.join(argv)} exited {result.returncode}: {result.stderr.decode()}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each case in each tree (default 21)")
    parser.add_argument("--tree", action="append", type=Path,
                        help="a checkout of cachesync to measure; repeat to compare (default: this one)")
    args = parser.parse_args()
    trees = [tree.resolve() for tree in args.tree or [Path(__file__).resolve().parents[1]]]
    for tree in trees:
        if not (tree / "cachesync_cli" / "__init__.py").is_file():
            raise SystemExit(f"{tree} is not a cachesync checkout (no cachesync_cli/__init__.py)")
    took: dict[tuple[Path, str], list[float]] = {(tree, label): [] for tree in trees for label in CASES}
    with tempfile.TemporaryDirectory(prefix="cachesync-startup-") as tmp:
        cwd = Path(tmp)  # a config file with cache names, for the second completion
        (cwd / "cachesync.toml").write_text(CONFIG, encoding="utf-8")
        for tree in trees:  # once untimed: compile the .pyc files
            for argv, extra in CASES.values():
                run_once(tree, argv, extra, cwd)
        for _ in range(args.runs):
            for label, (argv, extra) in CASES.items():
                for tree in trees:
                    took[tree, label].append(run_once(tree, argv, extra, cwd))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.runs} runs of each, interleaved; load average {load:.2f} at the end")
    for label in CASES:
        for tree in trees:
            times = took[tree, label]
            name = f"  [{tree}]" if len(trees) > 1 else ""
            print(f"{label:42s} median {statistics.median(times):.3f} s, fastest {min(times):.3f} s{name}")


if __name__ == "__main__":
    main()
