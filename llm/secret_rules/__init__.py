"""Vendor secret patterns from gitleaks' maintained rule set, for :mod:`llm.privacy`.

``gitleaks.toml`` next to this file is gitleaks' default configuration, kept verbatim (MIT
licence in ``LICENSE``; version and update steps in ``README.md``). It is loaded lazily, once,
by :func:`rules`; ``python -m llm.secret_rules.update NEW.toml`` validates and replaces it.

How a rule is applied, and where this differs from gitleaks:

* **Keywords first.** One Aho-Corasick pass (``ahocorasick_rs``, a DFA) finds every rule
  keyword in the lower-cased text, as gitleaks does; a rule's regex only runs near the places
  where one of its own keywords occurs. Rules whose every match *starts* with a keyword
  (``ghp_``, ``xoxb``, ``AKIA``... most vendor tokens) are tried anchored there
  (``pattern.match(text, pos)``); gitleaks' generated ``<identifier with the vendor name>
  <operator> <secret>`` rules are tried from the start of the identifier around the keyword,
  and only when an operator (``=``, ``:``, ``,``...) follows it within the 23 characters the
  rule allows ("largest contentful paint is 2 s" never runs the Contentful rule); the rest
  are searched in a small window around each keyword (160 characters before it, up to 400
  after, to the end of a word). That gives the matches a whole-text search would give
  whenever the match lies near its keyword, which is what the keywords are for; a rule whose
  keyword may sit anywhere in a *file* (``facebook-access-token``) only fires near it here.
* **Regex dialect.** Go RE2 → Python ``re``: mid-pattern ``(?i)`` becomes a scoped
  ``(?i:...)`` reaching to the end of its group (RE2 semantics, alternatives included),
  ``\\z`` → ``\\Z``, POSIX classes (``[[:alnum:]]``) are spelled out, a literal ``[`` inside a
  class is escaped, and everything compiles with ``re.ASCII`` (RE2's ``\\w``, ``\\d``, ``\\s``
  and ``\\b`` are ASCII). A rule that still does not compile is skipped, counted and logged.
* **What counts.** The secret is the rule's ``secretGroup``, else the first non-empty capture
  group, else the whole match (gitleaks' choice); rules whose groups are only *named* labels
  (``jwt-base64``) report the whole match, so the span that gets redacted is the whole token.
  ``entropy`` thresholds apply to that secret (Shannon bits per character, gitleaks'
  ``entropy <= threshold`` means "not a secret"), and so do the global and per-rule
  allowlists (regexes on the secret, the match or the line; stopwords; ``AND``/``OR``).
  Allowlist entries that need a file path or a commit never match: a prompt has neither.
* **Skipped rules** (see :attr:`RuleSet.skipped`): rules that only apply to a file path
  (``path = ...``), ``generic-api-key`` (a ``key/secret/token = value`` rule that
  ``llm.privacy``'s context-secret detector already covers, with its own placeholder and
  randomness checks), ``private-key`` (``llm.privacy`` has its own, more precise detector,
  which also reports the kind ``private_key``), and any rule whose regex fails to compile.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import string
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # C-speed multi-keyword search; the pure-Python fallback is ~50x slower.
    import ahocorasick_rs
except ImportError:  # pragma: no cover - exercised by a test through monkeypatching
    ahocorasick_rs = None

__all__ = [
    "DEFAULT_PATH",
    "Rule",
    "RuleSet",
    "go_regex_to_python",
    "load",
    "rules",
    "shannon_entropy",
]

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
DEFAULT_PATH = HERE / "gitleaks.toml"

# Rules deliberately not used, with the reason (ids as in gitleaks.toml).
COVERED_ELSEWHERE = {
    "generic-api-key": "generic key/secret/token assignment: covered by llm.privacy's "
                       "context-secret detector",
    "private-key": "PEM/OpenSSH/PuTTY private keys: covered by llm.privacy's private-key "
                   "detector (kind private_key)",
}

# gitleaks' generated "<identifier with keyword> <operator> <secret>" rules start so: the
# identifier holds at most 50 (or 100) characters before the keyword.
_IDENT_PREFIXES = ("(?i)[\\w.-]{0,50}?", "[\\w.-]{0,50}?(?i:[\\w.-]{0,50}?")
_IDENT_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_WORD_CHARS = frozenset(string.ascii_letters + string.digits + "_")  # \w under re.ASCII
_IDENT_RUN = re.compile(r"[\w.-]*", re.ASCII)
_OPERATOR = re.compile(r"[=>:|?,]")
_SPACE = re.compile(r"\s")

# How far before a keyword a window-mode match may start, and the cap on how far after it
# may end (the window then runs on to the end of a word).
_MAX_BEFORE = 160
_MAX_AFTER = 400


# ---------------------------------------------------------------------------------------
# Go RE2 -> Python re
# ---------------------------------------------------------------------------------------

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": " \\t",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
_FLAG_GROUP = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?\)")


def _class(rx: str, i: int) -> tuple[str, int]:
    """Translate the character class starting at ``rx[i] == '['``; return (text, next i)."""
    out = ["["]
    i += 1
    if i < len(rx) and rx[i] == "^":
        out.append("^")
        i += 1
    first = True
    while i < len(rx):
        c = rx[i]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), i + 1
        first = False
        if c == "\\":
            esc = rx[i:i + 2]
            out.append("\\Z" if esc == "\\z" else esc)
            i += 2
            continue
        if c == "[":
            m = re.match(r"\[:(\^?)([a-z]+):\]", rx[i:])
            if m and m.group(2) in _POSIX_CLASSES:
                if m.group(1):
                    raise ValueError(f"negated POSIX class {m.group()}")
                out.append(_POSIX_CLASSES[m.group(2)])
                i += m.end()
                continue
            out.append("\\[")  # a literal "[" (Python would warn of a nested set)
            i += 1
            continue
        out.append(c)
        i += 1
    raise ValueError("unterminated character class")


def _translate(rx: str, i: int, top: bool) -> tuple[str, int]:
    """Translate from ``rx[i]`` to the end of the current group (exclusive of its ``)``)."""
    alternatives: list[str] = []
    current: list[str] = []
    opened = 0  # scoped flag groups opened in the current alternative
    flags: list[str] = []  # bare "(?i)"s seen in this group: they reach later alternatives
    start_flags = ""  # for the first alternative's global flags at the very start
    while i < len(rx):
        c = rx[i]
        if c == "\\":
            esc = rx[i:i + 2]
            current.append("\\Z" if esc == "\\z" else esc)
            i += 2
        elif c == "[":
            text, i = _class(rx, i)
            current.append(text)
        elif c == "(":
            m = _FLAG_GROUP.match(rx, i)
            if m:  # bare flags: apply to the rest of this group (RE2), Python needs scoping
                on, off = m.group(1), m.group(2) or ""
                if "U" in on + off:
                    raise ValueError("ungreedy flag (?U) has no Python equivalent")
                spec = on + (f"-{off}" if off else "")
                if top and not alternatives and not current and not off:
                    start_flags += on  # leading global flags stay global
                else:
                    current.append(f"(?{spec}:")
                    opened += 1
                    flags.append(spec)
                i = m.end()
                continue
            head = re.match(r"\((?:\?(?:P?<[A-Za-z_][A-Za-z0-9_]*>|[imsU]*(?:-[imsU]*)?:))?",
                            rx[i:])
            assert head is not None
            inner, i = _translate(rx, i + head.end(), top=False)
            if i >= len(rx) or rx[i] != ")":
                raise ValueError("missing )")
            current.append(head.group().replace("(?<", "(?P<") + inner + ")")
            i += 1
        elif c == ")":
            break
        elif c == "|":
            current.append(")" * opened)
            alternatives.append("".join(current))
            current = [f"(?{spec}:" for spec in flags]
            opened = len(flags)
            i += 1
        else:
            current.append(c)
            i += 1
    current.append(")" * opened)
    alternatives.append("".join(current))
    body = "|".join(alternatives)
    if start_flags:
        body = f"(?{start_flags})" + body
    return body, i


def go_regex_to_python(rx: str) -> str:
    """Rewrite a Go RE2 regex so Python's ``re`` gives it the same meaning."""
    text, i = _translate(rx, 0, top=True)
    if i != len(rx):
        raise ValueError(f"unbalanced ) at position {i}")
    return text


def compile_go(rx: str) -> re.Pattern[str]:
    """:func:`go_regex_to_python`, compiled the way the rules are (``re.ASCII``)."""
    return re.compile(go_regex_to_python(rx), re.ASCII)


# ---------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------


def shannon_entropy(s: str) -> float:
    """Shannon entropy in bits per character (gitleaks' ``shannonEntropy``)."""
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


@dataclass(frozen=True)
class _Allowlist:
    target: str  # "secret", "match" or "line"
    regexes: tuple[re.Pattern[str], ...]
    stopwords: tuple[str, ...]
    needs_path: bool  # has paths/commits criteria, which a prompt can never meet
    all_of: bool  # condition = "AND"

    def allows(self, secret: str, match: str, line: str) -> bool:
        checks: list[bool] = []
        if self.needs_path:
            checks.append(False)
        if self.regexes:
            target = {"match": match, "line": line}.get(self.target, secret)
            checks.append(any(r.search(target) for r in self.regexes))
        if self.stopwords:
            low = secret.lower()
            checks.append(any(w in low for w in self.stopwords))
        if not checks:
            return False
        return all(checks) if self.all_of else any(checks)


def _allowlist(spec: dict[str, Any]) -> _Allowlist:
    return _Allowlist(
        target=spec.get("regexTarget", "secret"),
        regexes=tuple(compile_go(r) for r in spec.get("regexes", ())),
        stopwords=tuple(w.lower() for w in spec.get("stopwords", ())),
        needs_path=bool(spec.get("paths") or spec.get("commits")),
        all_of=str(spec.get("condition", "OR")).upper() == "AND",
    )


class Rule:
    """One gitleaks rule. Its regex is converted and compiled on first use (:meth:`prepare`):
    compiling all ~215 costs a few hundred ms, and a prompt wakes only a handful."""

    __slots__ = ("id", "regex", "keywords", "entropy", "secret_group", "_spec_allowlists",
                 "pattern", "allowlists", "mode", "before", "after", "min_run", "in_secret",
                 "lead_boundary", "error")

    def __init__(self, spec: dict[str, Any]) -> None:
        self.id = str(spec["id"])
        self.regex = str(spec["regex"])
        self.keywords = tuple(dict.fromkeys(k.lower() for k in spec.get("keywords", ()) if k))
        self.entropy = float(spec.get("entropy", 0) or 0)
        self.secret_group = int(spec.get("secretGroup", 0) or 0)
        self._spec_allowlists = tuple(spec.get("allowlists", ()))
        self.pattern: re.Pattern[str] | None = None
        self.allowlists: tuple[_Allowlist, ...] = ()
        # How to look near a keyword: "anchored" (every match starts with a keyword: try
        # there), "ident" (gitleaks' "<identifier with keyword> = <secret>" rules: try from
        # the start of the identifier) or "window" (search a small window around it).
        self.mode = "window"
        self.before = self.after = 0  # window mode: reach of a match around its keyword
        self.min_run = 0  # every match has a run of this many non-space characters
        self.in_secret: frozenset[str] = frozenset()  # keywords that start the secret itself
        self.lead_boundary = False  # starts with \b: a keyword glued to a word cannot match
        self.error: str | None = None

    def prepare(self) -> bool:
        """Convert and compile (once); False, with :attr:`error` set, if it cannot be."""
        if self.pattern is not None:
            return True
        if self.error is not None:
            return False
        try:
            source = go_regex_to_python(self.regex)
            pattern = re.compile(source, re.ASCII)
            self.allowlists = tuple(_allowlist(a) for a in self._spec_allowlists)
        except (re.error, ValueError, RecursionError, OverflowError) as exc:
            self.error = f"regex does not compile in Python: {exc}"
            log.warning("gitleaks rule %s skipped: %s", self.id, self.error)
            return False
        anchored, width, self.min_run, self.in_secret = _shape(
            source, self.keywords, self.secret_group)
        if anchored:
            self.mode = "anchored"
            self.lead_boundary = source.startswith(("\\b", "(?i)\\b")) and all(
                k[0].isalnum() or k[0] == "_" for k in self.keywords)
        elif source.startswith(_IDENT_PREFIXES):
            self.mode = "ident"
        self.before = min(width, _MAX_BEFORE)
        self.after = min(width, _MAX_AFTER)
        self.pattern = pattern
        return True

    def secret_span(self, m: re.Match[str]) -> tuple[int, int]:
        if self.secret_group:
            return m.span(self.secret_group)
        if m.re.groups and not m.re.groupindex:
            for g in range(1, m.re.groups + 1):
                s, e = m.span(g)
                if e > s:
                    return s, e
        return m.span()


def _literal_prefixes(items: Sequence[Any], limit: int = 64) -> tuple[set[str], bool] | None:
    """Literal strings every match of the parsed ``items`` must start with, and whether the
    items were entirely literal (so what follows may extend the prefixes). ``None`` when no
    non-empty literal prefix is certain."""
    from re import _constants as c  # type: ignore[attr-defined]

    prefixes = {""}
    for op, av in items:
        if op is c.AT:
            continue  # \b, ^: zero width
        if op is c.LITERAL:
            prefixes = {p + chr(av) for p in prefixes}
            continue
        if op is c.SUBPATTERN:
            sub = _literal_prefixes(av[3], limit)
        elif op is c.IN and len(av) <= 8 and all(iop is c.LITERAL for iop, _ in av):
            sub = ({chr(v) for _, v in av}, True)  # "(?:ghu|ghs)" is parsed as "gh[us]"
        elif op is c.BRANCH:
            subs = [_literal_prefixes(b, limit) for b in av[1]]
            if any(s is None for s in subs):
                sub = None
            else:
                merged = {p for s in subs for p in s[0]}  # type: ignore[index]
                sub = (merged, all(s[1] for s in subs))  # type: ignore[index]
        else:
            sub = None
        if sub is None:
            break
        tails, complete = sub
        prefixes = {p + t for p in prefixes for t in tails}
        if len(prefixes) > limit:
            return None
        if not complete:
            return (prefixes, False) if all(prefixes) else None
    else:
        return prefixes, True
    return (prefixes, False) if all(prefixes) else None


_WS_CODES = tuple(ord(c) for c in " \t\n\r\f\v")


def _admits_space(items: Any) -> bool:
    """Can the parsed regex ``items`` match a whitespace character? (True when unsure.)"""
    from re import _constants as c  # type: ignore[attr-defined]

    for op, av in items:
        if op is c.LITERAL:
            if av in _WS_CODES:
                return True
        elif op in (c.AT, c.GROUPREF):
            continue
        elif op is c.IN:
            for iop, iav in av:
                if iop is c.LITERAL and iav in _WS_CODES:
                    return True
                if iop is c.RANGE and any(iav[0] <= w <= iav[1] for w in _WS_CODES):
                    return True
                if iop is c.CATEGORY and iav not in (c.CATEGORY_DIGIT, c.CATEGORY_WORD):
                    return True
                if iop not in (c.LITERAL, c.RANGE, c.CATEGORY):
                    return True  # NEGATE and anything unexpected
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            if _admits_space(av[2]):
                return True
        elif op is c.SUBPATTERN:
            if _admits_space(av[3]):
                return True
        elif op is c.BRANCH:
            if any(_admits_space(b) for b in av[1]):
                return True
        else:
            return True  # ANY (".") admits a newline-free space; others: be safe
    return False


def _find_group(items: Any, group: int) -> Any:
    from re import _constants as c  # type: ignore[attr-defined]

    for op, av in items:
        if op is c.SUBPATTERN:
            if av[0] == group:
                return av[3]
            sub = _find_group(av[3], group)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            sub = _find_group(av[2], group)
        elif op is c.BRANCH:
            sub = next((g for b in av[1] if (g := _find_group(b, group)) is not None), None)
        else:
            continue
        if sub is not None:
            return sub
    return None


def _shape(source: str, keywords: Sequence[str],
           secret_group: int) -> tuple[bool, int, int, frozenset[str]]:
    """(does every match start with a keyword?, longest possible match, shortest run of
    non-space characters every match contains, the keywords a secret may start with) of a
    Python regex; conservative on doubt."""
    try:
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(source, re.ASCII)
        width = min(int(parsed.getwidth()[1]), 1 << 30)
        found = _literal_prefixes(list(parsed))
        group = secret_group or (1 if parsed.state.groups > 1 and not parsed.state.groupdict
                                 else 0)
        secret = _find_group(parsed, group) if group else parsed
        min_run = 0
        if secret is not None and not _admits_space(secret):
            min_run = int(_parser.SubPattern(parsed.state, list(secret)).getwidth()[0])
        secret_prefixes = _literal_prefixes(list(secret)) if secret is not None else None
    except Exception:  # noqa: BLE001 - an internal-API change only costs speed
        return False, 1 << 30, 0, frozenset(keywords)
    anchored = bool(found) and all(
        any(p.lower().startswith(k) for k in keywords) for p in found[0])  # type: ignore[index]
    in_secret = frozenset(
        k for k in keywords
        for p in (secret_prefixes[0] if secret_prefixes else ())  # type: ignore[index]
        if p.lower().startswith(k))
    return anchored, width, min_run, in_secret


@dataclass
class RuleSet:
    """The usable rules, what was skipped and why, and the keyword automaton."""

    rules: list[Rule]
    excluded: dict[str, str]  # rule id -> reason, for rules not used by design
    source: Path
    total: int  # rules in the file
    global_allowlist: _Allowlist | None = None
    _keywords: list[str] = field(default_factory=list, repr=False)
    _by_keyword: list[list[int]] = field(default_factory=list, repr=False)
    _automaton: Any = field(default=None, repr=False)
    _bytes_automaton: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, list[int]] = {}
        for r, rule in enumerate(self.rules):
            for kw in rule.keywords:
                index.setdefault(kw, []).append(r)
        self._keywords = list(index)
        self._by_keyword = [index[k] for k in self._keywords]
        if ahocorasick_rs is not None and self._keywords:
            dfa = ahocorasick_rs.Implementation.DFA
            self._automaton = ahocorasick_rs.AhoCorasick(self._keywords, implementation=dfa)
            # ASCII text (nearly every prompt) is searched as bytes: no index translation.
            self._bytes_automaton = ahocorasick_rs.BytesAhoCorasick(
                [k.encode() for k in self._keywords], implementation=dfa)

    @property
    def skipped(self) -> dict[str, str]:
        """Rule id -> reason for every rule not in use: excluded by design, or (once tried,
        see :meth:`compile_all`) failing to compile."""
        out = dict(self.excluded)
        out.update({r.id: r.error for r in self.rules if r.error})
        return out

    @property
    def loaded(self) -> int:
        """Rules in use (all compile, once :meth:`compile_all` has run)."""
        return sum(1 for r in self.rules if r.error is None)

    def compile_all(self) -> RuleSet:
        """Compile every rule now (the update command, tests and benchmarks use it)."""
        for rule in self.rules:
            rule.prepare()
        return self

    def summary(self) -> str:
        kinds = Counter(_reason_kind(v) for v in self.skipped.values())
        why = ", ".join(f"{n} {k}" for k, n in kinds.most_common())
        return (f"{self.loaded} of {self.total} gitleaks rules in use, {len(self.skipped)} "
                f"skipped ({why or 'none'})")

    def keyword_hits(self, low: str) -> list[tuple[int, int, int]]:
        """(keyword index, start, end) of every keyword occurrence in ``low``."""
        if self._automaton is not None:
            if low.isascii():
                return self._bytes_automaton.find_matches_as_indexes(
                    low.encode("ascii"), overlapping=True)
            return self._automaton.find_matches_as_indexes(low, overlapping=True)
        hits = []
        for k, kw in enumerate(self._keywords):
            i = low.find(kw)
            while i != -1:
                hits.append((k, i, i + len(kw)))
                i = low.find(kw, i + 1)
        return hits

    def find(self, text: str, low: str | None = None) -> list[tuple[str, int, int]]:
        """(rule id, start, end) of every secret the rules find in ``text``.

        ``low`` is ``text.lower()`` when the caller has it already; it must have the same
        length as ``text`` (keyword positions are used as positions in ``text``).
        """
        if low is None or len(low) != len(text):
            low = text.lower()
            if len(low) != len(text):  # "İ" and a few others grow when lower-cased
                low = "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)
        hits = self.keyword_hits(low)
        if not hits:
            return []
        by_keyword: dict[int, list[int]] = {}
        for k, s, _e in hits:
            if k in by_keyword:
                by_keyword[k].append(s)
            else:
                by_keyword[k] = [s]
        starts: dict[int, dict[int, int]] = {}  # rule -> {keyword start: keyword index}
        for k, ks in by_keyword.items():
            for r in self._by_keyword[k]:
                positions = starts.setdefault(r, {})
                for s in ks:
                    positions[s] = k
        out: list[tuple[str, int, int]] = []
        n = len(text)
        for r, positions in starts.items():
            rule = self.rules[r]
            if not rule.prepare():
                continue
            assert rule.pattern is not None
            if rule.mode == "anchored":
                for s in sorted(positions):
                    if rule.lead_boundary and s and text[s - 1] in _WORD_CHARS:
                        continue  # "\bey..." cannot start inside "they" (cheap pre-check)
                    m = rule.pattern.match(text, s)
                    if m:
                        self._keep(rule, m, text, out)
                continue
            window_positions = sorted(positions)
            if rule.mode == "ident":
                back = 100 if rule.pattern.pattern.startswith("[") else 50
                tried = -1
                window_positions = []
                for s in sorted(positions):
                    if self._keywords[positions[s]] in rule.in_secret:
                        window_positions.append(s)  # "NRAK-...": the key name is elsewhere
                        continue
                    # The operator ("=", ":", "=>", ",", ...) follows the identifier within
                    # 20 + 3 characters: "largest contentful paint is 2.3 s" has none.
                    end = _IDENT_RUN.match(text, s).end()  # type: ignore[union-attr]
                    if not _OPERATOR.search(text, end, end + 24):
                        continue
                    lo, floor = s, max(0, s - back)
                    while lo > floor and text[lo - 1] in _IDENT_CHARS:
                        lo -= 1
                    if lo <= tried:
                        continue  # the same identifier: already tried from its start
                    tried = lo
                    m = rule.pattern.match(text, lo)
                    if m:
                        self._keep(rule, m, text, out)
            windows: list[list[int]] = []
            for s in window_positions:
                lo = max(0, s - rule.before - 1)  # -1: the boundary a rule may want first
                hi = _word_end(text, min(n, s + rule.after))
                if rule.min_run > 8 and not _has_run(text, lo, hi, rule.min_run):
                    continue  # no token long enough to be this rule's secret
                if windows and lo <= windows[-1][1]:
                    windows[-1][1] = max(windows[-1][1], hi)
                else:
                    windows.append([lo, hi])
            for lo, hi in windows:
                for m in rule.pattern.finditer(text, lo, hi):
                    self._keep(rule, m, text, out)
        return out

    def _keep(self, rule: Rule, m: re.Match[str], text: str,
              out: list[tuple[str, int, int]]) -> None:
        s, e = rule.secret_span(m)
        secret = text[s:e]
        if not secret:
            return
        if rule.entropy and shannon_entropy(secret) <= rule.entropy:
            return
        lists = rule.allowlists + ((self.global_allowlist,) if self.global_allowlist else ())
        if lists:
            line_start = text.rfind("\n", 0, m.start()) + 1
            line_end = text.find("\n", m.end())
            line = text[line_start:line_end if line_end != -1 else len(text)]
            if any(a.allows(secret, m.group(), line) for a in lists):
                return
        out.append((rule.id, s, e))


def _has_run(text: str, lo: int, hi: int, length: int) -> bool:
    """Does ``text[lo:hi]`` hold ``length`` non-space characters in a row?"""
    return any(len(w) >= length for w in text[lo:hi].split())


def _word_end(text: str, pos: int) -> int:
    """End of the whitespace-delimited word containing ``pos`` (looks ahead 4 kB at most)."""
    ceil = min(len(text), pos + 4096)
    m = _SPACE.search(text, pos, ceil)
    return m.start() if m else ceil


def load(path: str | Path = DEFAULT_PATH) -> RuleSet:
    """Read a gitleaks rule file (raises on a file that is not one). Regexes are converted
    and compiled on first use; :meth:`RuleSet.compile_all` does all of them at once."""
    path = Path(path)
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    specs = data.get("rules")
    if not isinstance(specs, list) or not specs:
        raise ValueError(f"{path}: no [[rules]] tables: not a gitleaks configuration")
    usable: list[Rule] = []
    excluded: dict[str, str] = {}
    for spec in specs:
        if not isinstance(spec, dict) or "id" not in spec:
            raise ValueError(f"{path}: a [[rules]] table without an id")
        reason = _skip_reason(spec)
        if reason:
            excluded[str(spec["id"])] = reason
        else:
            usable.append(Rule(spec))
    glob = {k: v for k, v in (data.get("allowlist") or {}).items()
            if k not in ("paths", "commits")}  # OR-ed with the rest; a prompt has no path
    ruleset = RuleSet(rules=usable, excluded=excluded, source=path, total=len(specs),
                      global_allowlist=_allowlist(glob) if glob else None)
    for rid, reason in excluded.items():
        log.debug("gitleaks rule %s not used: %s", rid, reason)
    return ruleset


def _skip_reason(spec: dict[str, Any]) -> str:
    rid = spec.get("id", "")
    if rid in COVERED_ELSEWHERE:
        return COVERED_ELSEWHERE[rid]
    if not spec.get("regex"):
        return "no regex: matches file paths only"
    if spec.get("path"):
        return "applies only to files whose path matches; a prompt has no path"
    if not spec.get("keywords"):
        return "no keywords: would have to run on every prompt"
    return ""


def _reason_kind(reason: str) -> str:
    if reason.startswith("regex does not compile"):
        return "do not compile"
    if "path" in reason:
        return "need a file path"
    if reason.startswith("no keywords"):
        return "have no keywords"
    return "are covered elsewhere"


@functools.lru_cache(maxsize=1)
def rules() -> RuleSet:
    """The shipped rule set, read on first use (each regex compiles when first needed)."""
    ruleset = load(DEFAULT_PATH)
    log.info("gitleaks rules: %d in %s, %d not used by design (%s)", ruleset.total,
             ruleset.source.name, len(ruleset.excluded), "; ".join(
                 f"{k}: {v}" for k, v in ruleset.excluded.items()))
    return ruleset
