"""``python -m bench NAME [NAME ...]`` or ``python -m bench all``."""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys

from bench import BENCHMARKS, write_section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="+", help=f"one of: {', '.join(BENCHMARKS)}, or all")
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    parser.add_argument("--subset", type=int, metavar="N", help="routing: replay N prompts per set")
    parser.add_argument("--seconds", type=float, metavar="S", help="load: seconds per phase")
    parser.add_argument("--passes", type=int, metavar="N", help="pages: passes over the pages")
    args = parser.parse_args(argv)
    names = list(BENCHMARKS) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    for name in names:
        print(f"== {name} ==", flush=True)
        module = importlib.import_module(f"bench.{name}")
        accepted = inspect.signature(module.run).parameters
        options = {k: v for k, v in (("subset", args.subset), ("seconds", args.seconds),
                                     ("passes", args.passes))
                   if v is not None and k in accepted}
        section = module.run(**options)
        print(section.markdown())
        if not args.no_write:
            write_section(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
