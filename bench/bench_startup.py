"""Start-up and diagnosis benchmarks (issue "Foundation" and "Interfaces").

Run:  .venv/bin/python bench/bench_startup.py [--runs 7]
Prints a Markdown table of median wall times, each beside `python -c pass` measured in the same run.
Goals: techcare --version <= 0.15 s, import techcare <= 0.25 s, techcare diagnose <= 1.5 s,
techcare (shell) to a ready prompt <= 1.5 s beside `ipython -c pass`.
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

VENV_BIN = Path(sys.executable).parent


def timed(argv: list[str], *, env: dict[str, str] | None = None, stdin: str | None = None, cwd: str | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, input=stdin, text=True, capture_output=True, env=env, cwd=cwd, check=False)
    return time.perf_counter() - start


def median(argv: list[str], runs: int, **kwargs) -> float:
    timed(argv, **kwargs)  # warm the page cache
    return statistics.median(timed(argv, **kwargs) for _ in range(runs))


def shell_ready(runs: int) -> float:
    """Time from `techcare` to a ready IPython prompt (password and license disabled, embedded defaults)."""
    import pexpect

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TECHCARE_HOME": f"{tmp}/home", "TECHCARE_DATA_DIR": f"{tmp}/data",
               "TECHCARE_ENV_FILE": f"{tmp}/.env", "TERM": "dumb"}
        Path(f"{tmp}/.env").write_text("TECHNICIAN_NAME=Bench\nEDITION=community\n")
        samples = []
        for _ in range(runs + 1):
            start = time.perf_counter()
            child = pexpect.spawn(str(VENV_BIN / "techcare"), env=env, encoding="utf-8", timeout=30, cwd=tmp)
            child.expect(r"In \[1\]: ")
            samples.append(time.perf_counter() - start)
            child.sendline("exit")
            child.expect(pexpect.EOF)
        return statistics.median(samples[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    py = sys.executable
    rows = [
        ("python -c pass", median([py, "-c", "pass"], args.runs), None),
        ("techcare --version", median([str(VENV_BIN / "techcare"), "--version"], args.runs), 0.15),
        ('python -c "import techcare"', median([py, "-c", "import techcare"], args.runs), 0.25),
        ("techcare diagnose --json", median([str(VENV_BIN / "techcare"), "diagnose", "--json"], args.runs), 1.5),
        ("ipython -c pass", median([str(VENV_BIN / "ipython"), "-c", "pass"], args.runs), None),
        ("techcare -> ready prompt", shell_ready(args.runs), 1.5),
    ]
    print(f"| command | median wall (s, {args.runs} runs) | goal |")
    print("|---|---|---|")
    for name, value, goal in rows:
        verdict = "" if goal is None else (f"<= {goal} ✔" if value <= goal else f"<= {goal} ✖")
        print(f"| `{name}` | {value:.3f} | {verdict} |")


if __name__ == "__main__":
    main()
