"""``python -m techcare.assistant FILE... [--misses]``: offline triage quality on labelled message files."""

from __future__ import annotations

from ..errors import AssistantError
from ._triage import evaluate


def main(argv: list[str] | None = None) -> int:
    """``python -m techcare.assistant FILE...``: print triage quality figures for labelled files."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m techcare.assistant",
                                     description="Triage quality on labelled message files (category<TAB>lang<TAB>text).")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--misses", action="store_true", help="list the messages whose first category is wrong")
    args = parser.parse_args(argv)
    for name in args.files:
        started = time.perf_counter()
        try:
            result = evaluate(name)
        except (OSError, ValueError, AssistantError) as exc:
            print(f"{name}: {exc}")
            return 2
        elapsed = time.perf_counter() - started
        langs = ", ".join(f"{k}: {v['messages']} msgs, top-1 {v['top1']:.1%}, top-3 {v['top3']:.1%}"
                          for k, v in sorted(result["by_language"].items()))
        print(f"{name}: {result['messages']} messages, top-1 {result['top1']:.1%}, top-3 {result['top3']:.1%} "
              f"({langs}); {elapsed * 1000 / result['messages']:.1f} ms/message")
        if args.misses:
            for miss in result["misses"]:
                print(f"  expected {miss['expected']}, got {miss['got']}: {miss['message']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
