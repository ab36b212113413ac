"""Replace the shipped gitleaks rules with a newer ``gitleaks.toml``, after checking it.

Usage (from the repository root)::

    python -m llm.secret_rules.update PATH/TO/gitleaks.toml \\
        --version "v8.31.0 (commit abc1234, 2026-09-01)"

``PATH`` is gitleaks' default configuration, ``config/gitleaks.toml`` in its repository. The
command reads it, converts and compiles every rule, runs the rules on a few synthetic tokens
that must still be found and on ordinary prose that must not be, and only then copies it
over ``llm/secret_rules/gitleaks.toml``, copies the ``LICENSE`` found next to it (or given
with ``--license``), and rewrites the version line of ``llm/secret_rules/README.md``. It
prints how many rules are in use and why the others are skipped. Nothing is written when a
check fails (exit status 1). Run the privacy tests afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import sys
from pathlib import Path

from llm.secret_rules import DEFAULT_PATH, HERE, RuleSet, load

README = HERE / "README.md"
LICENSE = HERE / "LICENSE"
VERSION_LINE = re.compile(r"^Version: .*$", re.MULTILINE)
# A new rule file may lose a few rules to the regex dialect, not a large share of them.
MAX_UNCOMPILABLE_SHARE = 0.10


def _samples() -> tuple[list[str], list[str]]:
    """(texts whose secret must be found, texts where nothing may be), built at run time so
    that no secret scanner mistakes this file for one holding credentials."""
    b62 = "aB3dE9fG7hJ2kL5mN8pQ4rS6tU1vW0xYz5C8"
    must = [
        "token ghp_" + b62[:36],
        "GITLAB=glpat-" + b62[:20],
        "slack xoxb-" + "123456789012-1234567890123-" + b62[:24],
        "shop shpat_" + "0123456789abcdef" * 2,
        "key = AKIA" + "Q3MX7ZP2LR5T6WYB",
    ]
    must_not = [
        "The largest contentful paint is 2.4 s; our Facebook and LinkedIn ads drove 12% of "
        "sessions, see https://www.example.com/blog/2024/core-web-vitals?utm_source=news.",
        "Set OPENAI_API_KEY=sk-... and GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }} first.",
        "Revert 3f2a9c1d8e7b6a5f4c3d2e1f0a9b8c7d6e5f4a3b; request "
        "123e4567-e89b-12d3-a456-426614174000 timed out.",
    ]
    return must, must_not


def check(ruleset: RuleSet) -> list[str]:
    """Problems that make a rule file unfit to ship (empty list: fit)."""
    ruleset.compile_all()
    problems = []
    if ruleset.loaded == 0:
        problems.append("no rule is usable")
    broken = [rid for rid, why in ruleset.skipped.items() if why.startswith("regex does not")]
    if len(broken) > MAX_UNCOMPILABLE_SHARE * ruleset.total:
        problems.append(f"{len(broken)} of {ruleset.total} rules do not compile: {broken[:10]}")
    must, must_not = _samples()
    for text in must:
        if not ruleset.find(text):
            problems.append(f"no rule finds the secret in {text[:24]!r}...")
    for text in must_not:
        found = ruleset.find(text)
        if found:
            problems.append(f"rules {[f[0] for f in found]} fire on ordinary prose {text[:40]!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm.secret_rules.update",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("toml", type=Path, help="the new gitleaks.toml")
    parser.add_argument("--version", default="",
                        help='what to record, e.g. "v8.31.0 (commit abc1234, 2026-09-01)"')
    parser.add_argument("--license", type=Path, default=None,
                        help="gitleaks' LICENSE (default: the LICENSE next to the toml)")
    parser.add_argument("--dry-run", action="store_true", help="check only, write nothing")
    args = parser.parse_args(argv)

    try:
        ruleset = load(args.toml)
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        print(f"not a usable gitleaks rule file: {exc}", file=sys.stderr)
        return 1
    problems = check(ruleset)
    print(ruleset.summary())
    for rid, why in sorted(ruleset.skipped.items()):
        print(f"  skipped {rid}: {why}")
    if problems:
        for p in problems:
            print(f"problem: {p}", file=sys.stderr)
        print("nothing was changed", file=sys.stderr)
        return 1
    if args.dry_run:
        print("dry run: nothing was changed")
        return 0
    licence = args.license or args.toml.with_name("LICENSE")
    if not licence.is_file():
        print(f"no LICENSE at {licence}: pass --license (gitleaks is MIT-licensed and its "
              "licence must ship with the rules)", file=sys.stderr)
        return 1
    if args.toml.resolve() != DEFAULT_PATH:
        shutil.copyfile(args.toml, DEFAULT_PATH)
    if licence.resolve() != LICENSE:
        shutil.copyfile(licence, LICENSE)
    version = args.version or f"unknown (copied from {args.toml.name} on {dt.date.today()})"
    text = README.read_text(encoding="utf-8")
    line = f"Version: gitleaks {version}"
    text = VERSION_LINE.sub(line, text, count=1) if VERSION_LINE.search(text) else (
        text.rstrip("\n") + f"\n\n{line}\n")
    README.write_text(text, encoding="utf-8")
    print(f"updated {DEFAULT_PATH.relative_to(HERE.parent.parent)} ({line}); now run the "
          "privacy tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
