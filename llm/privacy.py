"""Privacy scanner: decides whether a prompt may leave the machine.

The router calls :func:`scan` (or :func:`is_private`) on every message before any cloud
call. Any finding keeps the call on local models, or, when the user opted into "redact then
escalate", :func:`redact` swaps each private span for a placeholder such as ``[EMAIL_1]`` and
:meth:`Redaction.restore` puts the originals back into the model's answer.

Design choices worth knowing:

* **Privacy first.** Every detector errs towards flagging. A false positive only costs a
  local model call; a miss leaks data. The exceptions are shapes that are overwhelmingly
  *not* private and very common in analyst prompts: dates, prices, version strings, ISBNs,
  plain digit order ids (unless they pass Luhn), UUIDs and hex digests in prose, template
  placeholders.
* **Speed.** The router scans every prompt, so :func:`scan` must stay well under a
  millisecond for ordinary prose. A whole-text regex pass costs several ns per character
  *per pattern*, so the text only gets a few cheap whole-text passes: ``str.find`` for the
  key/secret/password words, ``@``, ``PRIVATE KEY`` and friends, and one digit-led regex
  that picks out the only digits worth a closer look (runs of 6+ digits that are not a
  date/price/decimal, dotted quads, digits inside long words). The card, IBAN, ID, IP and
  phone detectors then run in small whitespace-aligned windows around those runs, and the
  vendor-token and entropy checks on the long words. ``phonenumbers`` and ``stdnum`` are
  consulted only for candidates, never over the whole text. The gitleaks keyword pass is
  one more whole-text pass, in Rust (``ahocorasick_rs``).
* **Checksums over shapes.** Card numbers must pass Luhn; with a known issuer prefix and
  length they are payment cards, and any other Luhn-valid run of 12-19 digits is still
  flagged (kind ``card``, described as "a possible card number": new BIN ranges, fleet and
  private-label cards, a digit typed twice), except numbers starting with 0, Unix times in
  ms/us/ns and ISBN/EAN barcodes. That costs one random 12-19 digit order id in ten (see
  ``bench/RESULTS.md``). IBANs must pass mod-97 and their country length, SSNs must avoid
  the never-issued ranges, European national ids must pass python-stdnum's validator:
  distinctive shapes anywhere (Spanish DNI/NIE, Italian codice fiscale, Finnish HETU,
  Swedish personnummer, Czech rodné číslo, Swiss AHV, Belgian national number, spaced
  French NIR), bare digit runs (Dutch BSN, German IdNr, Polish PESEL, Danish CPR, ...) only
  after an id word, because a mod-11 checksum alone passes one random number in ten.
* **Secrets.** Vendor tokens (OpenAI, Anthropic, AWS, GitHub, Slack, Google, Stripe, JWT,
  ...) are matched by prefix, and some 200 more vendors' keys by gitleaks' maintained rules
  (:mod:`llm.secret_rules`): one Aho-Corasick pass finds the rules' keywords, and each
  rule's regex only runs next to its own keywords. Anything else counts as a secret when it
  follows a key/secret/token/password assignment and looks random, or, free-standing, when
  it is a 20+ character token mixing upper case, lower case and digits with high Shannon
  entropy and frequent character-class switches. Lower-case hex (git SHAs, digests) and
  UUIDs in prose are *not* secrets: they carry no upper case. After ``api_key=`` they are.
* **Phones in data.** A number right after ``=`` is a phone number when its key says so
  (``phone=``, ``?tel=``, ``SUPPORT_PHONE=``) or it is in ``+CC`` form; URL-encoded
  (``%2B44...``) and ``wa.me/`` links count too, as do ``%40``-encoded email addresses.
* **IP addresses.** Every syntactically valid IPv4/IPv6 address counts, loopback included;
  deciding which addresses are "public enough" is not worth the risk. ``v2.0.1.4`` (letter
  prefix), three-part versions and "Section 4.1.2.3"-style numbering are not addresses.

Known blind spots (accepted): a letters-only password in prose ("my password is
correcthorse") is not caught; a free-standing token with no digit at all is missed unless
a gitleaks rule knows its vendor (their keywords are searched for in the whole text; AWS
key ids are searched for directly); random-looking public ids (YouTube channel ids,
publishable keys) are flagged as secrets, and Luhn-valid order ids as possible cards,
which only costs a local model call.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import json
import math
import re
import string
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers

from llm import secret_rules

__all__ = [
    "KINDS",
    "Finding",
    "Redaction",
    "describe",
    "is_private",
    "measure_corpus",
    "redact",
    "scan",
]

KINDS: tuple[str, ...] = (
    "private_key",
    "api_key",
    "card",
    "iban",
    "national_id",
    "email",
    "phone",
    "ip_address",
)


@dataclass(frozen=True)
class Finding:
    """One private span: ``text == source[start:end]``."""

    kind: str
    start: int
    end: int
    text: str


# When two candidates overlap, the lower number wins (then the longer span).
_PRIORITY = {
    "private_key": 0,
    "api_key": 1,
    "iban": 2,
    "national_id": 3,  # checksum-validated ids win over a Luhn "possible card"
    "card": 4,
    "email": 5,
    "ip_address": 6,
    "phone": 7,
}

_Cand = tuple[str, int, int]  # kind, start, end

# ---------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------

_WS = " \t\n\r\f\v"


def _word_start(text: str, pos: int, floor: int = 0) -> int:
    """Index just after the last space/newline/tab before ``pos`` (not below ``floor``)."""
    i = text.rfind(" ", floor, pos)
    j = text.rfind("\n", i + 1 if i >= floor else floor, pos)
    if j > i:
        i = j
    start = i + 1 if i >= floor else floor
    if "\t" in text[start:pos]:  # rare, so looked for only inside the candidate word
        start = text.rfind("\t", start, pos) + 1
    return start


def _word_end(text: str, pos: int) -> int:
    """Index of the first space/newline/tab at or after ``pos`` (or ``len(text)``)."""
    end = text.find(" ", pos)
    if end == -1:
        end = len(text)
    j = text.find("\n", pos, end)
    if j != -1:
        end = j
    if "\t" in text[pos:end]:
        end = text.find("\t", pos, end)
    return end


def _entropy(s: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _char_class(c: str) -> int:
    if c.isdigit():
        return 0
    if c.isupper():
        return 1
    if c.islower():
        return 2
    return 3


def _class_stats(s: str) -> tuple[int, int, int, int, int]:
    """(digits, upper, lower, class transitions, longest run of one class among letters)."""
    digits = upper = lower = transitions = longest = run = 0
    prev = -1
    for c in s:
        k = _char_class(c)
        if k == 0:
            digits += 1
        elif k == 1:
            upper += 1
        elif k == 2:
            lower += 1
        if k == prev:
            run += 1
        else:
            if prev != -1:
                transitions += 1
            run = 1
            prev = k
        if k in (1, 2) and run > longest:
            longest = run
    return digits, upper, lower, transitions, longest


# Values that are templates, not secrets: "<your-key>", "${API_KEY}", "sk-xxxx", "****",
# "YOUR_TOKEN_HERE", a single repeated character, or one of our own "[SECRET_1]" tokens.
_PLACEHOLDER = re.compile(
    r"your|xxxx|\*\*\*|\.\.\.|example|placeholder|changeme|change_me|redacted|dummy|"
    r"[_\-]here\b|^(?:insert|replace|sample)|secret_?key|api_?key|<|>|\{|\}|^\$|^%|"
    r"^(?:none|null|true|false|string|password|passw0rd|secret|undefined|required|optional|"
    r"hidden|masked|default)$|^(.)\1+$|\[[A-Z_]+_[0-9]+\]",
    re.IGNORECASE,
)
_WORDY_SEGMENTS = re.compile(r"(?:^|[_.\-])[a-z]{3,}(?=[_.\-]|$)")
_HEX = re.compile(r"[0-9a-fA-F\-]+")


def _is_placeholder(value: str) -> bool:
    return _PLACEHOLDER.search(value) is not None


def _looks_random(value: str, *, strict: bool, min_len: int) -> bool:
    """Heuristic "is this string a machine-generated secret?".

    ``strict`` is used for free-standing tokens (no key/secret/token word nearby): the token
    must mix upper case, lower case and digits, have high entropy and switch character
    class often (random base62 switches on ~60% of characters; ``CamelCase2024Words`` does
    not). Non-strict is used right after ``api_key=`` and friends, where lower-case hex and
    UUIDs also count, since many services issue exactly those.
    """
    if len(value) < min_len or _is_placeholder(value):
        return False
    digits, upper, lower, transitions, longest = _class_stats(value)
    letters = upper + lower
    n = len(value)
    if strict:
        if not (digits >= 2 and upper >= 2 and lower >= 2):
            return False
        if longest > 7 or transitions < 0.3 * n:
            return False
        return _entropy(value) >= 3.5
    if digits == 0 or letters == 0:
        return False
    if _HEX.fullmatch(value) and sum(c != "-" for c in value) >= 16:
        return _entropy(value) >= 2.8  # hex / UUID style key after an assignment
    # Mixed case tolerates longer letter runs; lower-case+digits must look like base36 noise,
    # not a slug such as "seo-tips-2024-q3" (two or more dictionary-ish segments).
    # One case + digits, 24+ characters and no separator: random base36 (client secrets,
    # many vendors' keys) has letter runs of 10+ in most 40-character values, a slug or a
    # sentence squashed together has far longer ones.
    if upper and lower:
        ok_runs = longest <= 10
    elif n >= 24 and not any(c in value for c in "-_."):
        ok_runs = longest <= 14 and digits >= 0.15 * n
    else:
        ok_runs = (longest <= 6 and digits >= 0.15 * n
                   and len(_WORDY_SEGMENTS.findall(value.lower())) < 2)
    return ok_runs and transitions >= 0.2 * n and _entropy(value) >= 3.0


# ---------------------------------------------------------------------------------------
# Private keys
# ---------------------------------------------------------------------------------------

_PK_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PK_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PK_BODY = re.compile(r"[A-Za-z0-9+/=]{20,}")
_PK_OPEN_END = re.compile(r"\n\s*\n|```|\\n\\n|\Z")


def _find_private_keys(text: str) -> list[_Cand]:
    out: list[_Cand] = []
    pos = 0
    while True:
        m = _PK_BEGIN.search(text, pos)
        if not m:
            break
        end_m = _PK_END.search(text, m.end())
        if end_m:
            end = end_m.end()
        else:  # truncated paste: take the block up to a blank line / fence / end of text
            stop = _PK_OPEN_END.search(text, m.end())
            end = stop.start() if stop else len(text)
        # "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----" is a placeholder.
        if _PK_BODY.search(text, m.end(), end):
            out.append(("private_key", m.start(), end))
        pos = end if end > m.end() else m.end()
    if "PuTTY-User-Key-File" in text and "Private-Lines" in text:
        i = text.find("PuTTY-User-Key-File")
        j = text.find("Private-MAC", i)
        end = _word_end(text, text.find(":", j) + 2) if j != -1 else len(text)
        out.append(("private_key", i, end))
    return out


# ---------------------------------------------------------------------------------------
# Vendor tokens (matched by prefix)
# ---------------------------------------------------------------------------------------

# Each entry: literal that must occur for the pattern to be worth running, pattern,
# and whether the token body must also look random (guards against "sk-your-key-here").
_VENDOR_PATTERNS: tuple[tuple[str, re.Pattern[str], bool], ...] = (
    # OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-) and Anthropic (sk-ant-api03-...)
    ("sk-", re.compile(r"(?<![\w-])sk-(?:[A-Za-z0-9]+-){0,2}[A-Za-z0-9_\-]{20,}"), True),
    ("_", re.compile(r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{30,}"), False),
    ("github_pat_", re.compile(r"github_pat_[A-Za-z0-9_]{22,}"), False),
    ("xox", re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9\-]{10,}"), True),
    ("hooks.slack.com",
     re.compile(r"hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_\-]{16,}"), False),
    ("AIza", re.compile(r"AIza[0-9A-Za-z_\-]{35}"), False),
    ("_live_", re.compile(r"(?<![A-Za-z0-9])(?:sk|rk)_live_[0-9A-Za-z]{10,}"), False),
    ("_test_", re.compile(r"(?<![A-Za-z0-9])(?:sk|rk)_test_[0-9A-Za-z]{10,}"), True),
    ("whsec_", re.compile(r"whsec_[0-9A-Za-z+/=]{20,}"), False),
    ("eyJ", re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), False),
    ("glpat-", re.compile(r"glpat-[A-Za-z0-9_\-]{20,}"), False),
    ("hf_", re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}"), True),
    ("npm_", re.compile(r"(?<![A-Za-z0-9])npm_[A-Za-z0-9]{36}"), False),
)
# AWS access key ids: AKIA (long-term) / ASIA (temporary) + 16 base32 characters.
# "AKIAXXXXXXXXXXXXXXXX" style placeholders (a character repeated 4 times) are skipped.
_AWS_KEY_ID = re.compile(r"(?<![A-Z0-9])A[KS]IA(?![A-Z0-9]*(.)\1{3})[A-Z0-9]{16}(?![A-Za-z0-9])")
_TOKEN_BODY_SPLIT = re.compile(
    r"^(?:sk-(?:[a-z]+-)*(?:api\d\d-|admin\d\d-)?|xox[a-z]-|[a-z]+_test_|hf_)"
)


def _vendor_body_ok(token: str) -> bool:
    body = _TOKEN_BODY_SPLIT.sub("", token)
    if len(body) < 16 or _is_placeholder(body):
        return False
    digits, upper, lower, _t, _l = _class_stats(body)
    return digits > 0 and (upper + lower) > 0 and _entropy(body) >= 3.0


def _find_vendor_tokens(text: str, lo: int, hi: int) -> list[_Cand]:
    """Vendor tokens inside the whitespace-delimited word ``text[lo:hi]``."""
    out: list[_Cand] = []
    span = text[lo:hi]
    for literal, pattern, check_body in _VENDOR_PATTERNS:
        if literal not in span:
            continue
        for m in pattern.finditer(text, lo, hi):
            if check_body and not _vendor_body_ok(m.group()):
                continue
            out.append(("api_key", m.start(), m.end()))
    return out


def _find_rule_secrets(text: str, low: str) -> list[_Cand]:
    """Vendor secrets found by gitleaks' rules (:mod:`llm.secret_rules`): one keyword pass
    over the lower-cased text, then each rule's regex only next to its own keywords."""
    out: list[_Cand] = []
    for _rule_id, s, e in secret_rules.rules().find(text, low):
        if not _is_placeholder(text[s:e]):
            out.append(("api_key", s, e))
    return out


# ---------------------------------------------------------------------------------------
# Secrets in key/secret/token/password context
# ---------------------------------------------------------------------------------------

# Words after which a random-looking value is a secret. Found with str.find on the
# lower-cased text: ten memchr-speed passes beat one case-insensitive alternation regex.
_SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "credential", "auth", "bearer",
                 "ssn", "social security")
_AFTER_WORD = re.compile(
    r"""[A-Za-z0-9_.\-]{0,40}["']?\]?[ \t]*
        (?P<op>:=|=>|==|=|:|[ \t]is[ \t]+|[ \t]+)[ \t]*
        (?P<q>["'`]?)(?P<v>[^\s"'`<>;,(){}\[\]|]{6,600})""",
    re.VERBOSE,
)
_QUERY_TAIL = re.compile(r"&[A-Za-z_][A-Za-z0-9_.\-]*=.*")
# The next three are only tried (anchored) where str.find saw their literal start.
_AUTH_HEADER = re.compile(
    r"""authorization["']?\s*[:=]\s*["']?(?:basic|bearer|token|digest)\s+([A-Za-z0-9._~+/\-]{8,}=*)""",
    re.IGNORECASE,
)
_AWS_SECRET = re.compile(
    r"""aws_?secret(?:_access)?_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])""",
    re.IGNORECASE,
)
_URL_CREDS = re.compile(r"://[^\s:/@]{1,64}:([^\s:/@]{3,128})@")  # scheme://user:password@
_SSN_CONTEXT_NUM = re.compile(r"(?<![0-9\-])([0-9]{3})[ ]?([0-9]{2})[ ]?([0-9]{4})(?![0-9\-])")
_DEFAULT_URL_PASSWORDS = {"password", "pass", "secret", "postgres", "root", "admin", "guest",
                          "user", "mysql", "redis", "changeme", "pwd"}


def _secret_word_hits(text: str, low: str) -> list[tuple[str, int, int]]:
    """(canonical word, start, end) for every key/secret/token/password word."""
    hits: list[tuple[str, int, int]] = []
    for kw in _SECRET_WORDS:
        i = low.find(kw)
        while i != -1:
            end = i + len(kw)
            word = kw
            if kw == "pass":
                for full in ("password", "passwd", "passphrase", "passwort"):
                    if low.startswith(full, i):
                        end = i + len(full)  # word stays "pass"
                        break
                else:
                    if end < len(low) and low[end].isalpha():
                        word = ""  # passport, passenger, passive
            elif kw == "ssn" and (end < len(low) and low[end].isalpha()):
                word = ""
            before = text[i - 1] if i else " "
            # Glued to a preceding lower-case letter ("monkey", "compass", "oauth"): not a name.
            if word and not (before.islower() and text[i].islower()):
                hits.append((word, i, end))
            i = low.find(kw, i + 1)
    return hits


def _find_context_secrets(text: str, low: str) -> list[_Cand]:
    out: list[_Cand] = []
    covered = -1  # end of the last value examined: "key=key=key=..." must stay linear
    for word, start, end in sorted(_secret_word_hits(text, low), key=lambda h: h[1]):
        if start < covered:
            continue
        if word in ("ssn", "social security"):
            n = _SSN_CONTEXT_NUM.search(text, end, min(len(text), end + 40))
            if n and _ssn_ok(n.group(1), n.group(2), n.group(3)):
                out.append(("national_id", n.start(), n.end()))
            continue
        a = _AFTER_WORD.match(text, end)
        if not a:
            continue
        if a.end() - a.start("v") > 64:
            covered = a.end()  # do not re-examine the inside of a long value
        value = _QUERY_TAIL.sub("", a.group("v"))  # "?token=abc&page=2": stop at "&page="
        if word not in ("pass", "pwd"):  # a password may well end in "!" or "."
            value = value.rstrip(".!?:")
        op = a.group("op").strip()
        if word == "bearer":
            ok = _looks_random(value, strict=False, min_len=12) or _looks_random(
                value, strict=True, min_len=12)
        elif word in ("pass", "pwd"):
            ok = _password_ok(value, op, bool(a.group("q")))
        elif op in ("", "is"):
            ok = _looks_random(value, strict=True, min_len=16)
        else:
            ok = _looks_random(value, strict=False, min_len=16)
        if ok:
            vs = a.start("v")
            out.append(("api_key", vs, vs + len(value)))
            covered = max(covered, vs + len(value))
    for i in _find_all(low, "authorization"):
        m = _AUTH_HEADER.match(text, i)
        if m and not _is_placeholder(m.group(1)):
            out.append(("api_key", m.start(1), m.end(1)))
    for i in _find_all(low, "aws"):
        m = _AWS_SECRET.match(text, i)
        if m:
            out.append(("api_key", m.start(1), m.end(1)))
    if "@" in text:
        for i in _find_all(text, "://"):
            m = _URL_CREDS.match(text, i)
            if m and m.group(1).lower() not in _DEFAULT_URL_PASSWORDS and not _is_placeholder(
                    m.group(1)):
                out.append(("api_key", m.start(1), m.end(1)))
    return out


def _find_all(haystack: str, needle: str) -> list[int]:
    """Every index of ``needle`` (str.find speed; empty list in the common case)."""
    out = []
    i = haystack.find(needle)
    while i != -1:
        out.append(i)
        i = haystack.find(needle, i + 1)
    return out


def _password_ok(value: str, op: str, quoted: bool) -> bool:
    """Passwords are short and not random, so the bar is lower than for API keys."""
    if op == "" or len(value) < 6 or _is_placeholder(value):
        return False
    if value[0] in "/~." or value.startswith(("os.", "env", "process.", "self.", "get")):
        return False  # a path, or code reading the password from elsewhere
    digits, upper, lower, _t, _l = _class_stats(value)
    symbols = len(value) - digits - upper - lower
    classes = (digits > 0) + (upper + lower > 0) + (symbols > 0)
    if classes >= 2:
        return not (digits == len(value) - 1 and value[-1] in ".!?")
    if digits == len(value):
        return len(value) >= 6 and op != ":"  # PIN-like after "=", not "password: 123456"
    return quoted and len(value) >= 8 and op in ("=", ":=", "==")


# ---------------------------------------------------------------------------------------
# Emails
# ---------------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9_\-])"
)


def _find_emails(text: str) -> list[_Cand]:
    out: list[_Cand] = []
    at = text.find("@")
    seen_end = -1
    while at != -1:
        if at > seen_end:
            lo = _word_start(text, at, max(0, at - 80))
            hi = _word_end(text, at)
            for m in _EMAIL.finditer(text, lo, hi):
                s, e = m.start(), m.end()
                if s and text[s - 1] == ":" and text[max(0, s - 7):s].lower() != "mailto:":
                    continue  # user:password@host in a URL, handled as a credential
                if text.startswith(":", e) and e + 1 < len(text) and text[e + 1] not in _WS:
                    continue  # git@github.com:org/repo.git is an SSH remote, not a person
                dom = m.group().split("@", 1)[1]
                if re.match(r"\dx\.", dom):
                    continue  # logo@2x.png
                out.append(("email", s, e))
            seen_end = hi
        at = text.find("@", at + 1)
    return out


# "ann%40example.com": an address URL-encoded in a query string (tracking links, invites).
_EMAIL_URLENCODED = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}%40"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9_\-])"
)


def _find_urlencoded_emails(text: str) -> list[_Cand]:
    out: list[_Cand] = []
    for i in _find_all(text, "%40"):
        lo = _word_start(text, i, max(0, i - 80))
        for m in _EMAIL_URLENCODED.finditer(text, lo, _word_end(text, i)):
            if m.start() <= i < m.end():
                out.append(("email", m.start(), m.end()))
    return out


# ---------------------------------------------------------------------------------------
# Digit-anchored detectors: cards, IBANs, national ids, IP addresses, phones, tokens
# ---------------------------------------------------------------------------------------

# One pass over the text finds the only digits worth a closer look: runs of 6+ digits joined
# by the separators numbers use (cards, phones, IBANs, SSNs, NI numbers), dotted quads, and
# digits with 6+ token characters on one side (inside a long token: every digit of a 20+
# character token has that). "2024", "18%", "$12,500", "FY2023" and "sha256" never match,
# which is most numbers in prose, so the detectors below run on a few small windows only.
_ANCHOR = re.compile(
    r"[0-9](?<![0-9][0-9])(?:"
    r"(?=(?:[ .,:/()+\-]{0,2}[0-9]){5})(?:[0-9]|[ .,:/()+\-]{1,2}(?=[0-9]))*+"
    r"|[0-9]{0,2}(?:\.[0-9]{1,3}){3}"
    r"|[0-9]*+[A-Za-z_](?=[A-Za-z0-9_+/=\-]{5})"
    r"|(?<=[A-Za-z0-9_+/=\-]{6}[0-9]))"
)
_BORING_NUMBER = re.compile(
    r"[0-9]{4}([-./])[0-9]{1,2}\1[0-9]{1,2}|[0-9]{1,2}([-./])[0-9]{1,2}\2[0-9]{2,4}"
    r"|[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?|[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+\.[0-9]+"
)
_PAD = 24
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "_+/=-")


_Spans = list[tuple[int, int]]


def _digit_windows(text: str) -> tuple[_Spans, _Spans, _Spans]:
    """Detector windows around interesting digit runs, long words that embed digits, and
    16-19 character words that do (where an Italian codice fiscale can hide).

    Windows are padded and aligned to whitespace so no candidate is cut in half. Words are
    whitespace-delimited spans of 20+ characters around digits glued to letters: the only
    places a vendor token or a random secret can hide.
    """
    n = len(text)
    windows: list[tuple[int, int]] = []
    words: list[tuple[int, int]] = []
    short_words: list[tuple[int, int]] = []
    word_end = -1
    for m in _ANCHOR.finditer(text):
        cs, ce = m.start(), m.end()
        if ce - cs > 1 and text[ce - 1].isdigit():  # a long digit run or a dotted quad
            if _BORING_NUMBER.fullmatch(text, cs, ce):
                continue  # a date, time, decimal or 1,234,567: nothing private fits exactly
            lo = _word_start(text, max(0, cs - _PAD), max(0, cs - _PAD - 64))
            hi = _word_end(text, min(n, ce + _PAD))
            if windows and lo <= windows[-1][1]:
                windows[-1] = (windows[-1][0], max(hi, windows[-1][1]))
            else:
                windows.append((lo, hi))
            if not ((cs and text[cs - 1] in _TOKEN_CHARS) or (ce < n and text[ce] in _TOKEN_CHARS)):
                continue
        if cs >= word_end:
            ws = _word_start(text, cs, max(0, cs - 4000))
            word_end = _word_end(text, ce)
            if word_end - ws >= 20:
                words.append((ws, word_end))
            elif word_end - ws >= 16:
                short_words.append((ws, word_end))
    return windows, words, short_words


# --- payment cards ---------------------------------------------------------------------

_CARD = re.compile(
    r"[0-9](?:[0-9]{3}(?:[ \-][0-9]{3,6}){2,5}|[0-9]{3}(?:\.[0-9]{4}){3}|[0-9]{11,18})")
_CARD_GROUP = re.compile(r"[0-9]+")
# Words before a 12-14 digit barcode (EAN/UPC/GTIN) that is not a card.
_BARCODE_CONTEXT = re.compile(r"\b(?:ean|gtin|upc|barcode|isbn|sku|article|artikel)\b")


def luhn_ok(digits: str) -> bool:
    """Luhn checksum (ISO/IEC 7812) of a string of ASCII digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _issuer_ok(d: str) -> bool:
    """Known issuer prefix and length; keeps Luhn-valid order ids out."""
    n = len(d)
    if d[0] == "4":
        return n in (13, 16, 19)
    p2, p4 = int(d[:2]), int(d[:4])
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p2 in (30, 36, 38, 39):
        return 14 <= n <= 16
    if p2 == 35:
        return 16 <= n <= 19
    if d[0] == "6" or p2 in (50, 56, 57, 58):
        return 13 <= n <= 19
    return False


def _gs1_ok(d: str) -> bool:
    """GS1 check digit (EAN-13, UPC-A, GTIN-14, ISBN-13)."""
    total = sum((3 if i % 2 else 1) * (ord(c) - 48) for i, c in enumerate(reversed(d[:-1])))
    return (10 - total % 10) % 10 == ord(d[-1]) - 48


def _possible_card(d: str, text: str, start: int, grouped: bool) -> bool:
    """A Luhn-valid 12-19 digit run whose issuer prefix or length we do not know: still a
    possible card (new ranges, private-label and fleet cards, a digit typed twice), unless
    it has a shape that is overwhelmingly something else."""
    if not (12 <= len(d) <= 19 and luhn_ok(d)):
        return False
    if d[0] == "0":
        return False  # no card number starts with 0 (zero-padded ids, "0044..." phones)
    if not grouped and d[0] == "1" and len(d) in (13, 16, 19) and (
            946_684_800 <= int(d[:10]) < 2_208_988_800):
        return False  # a Unix time in ms / us / ns between 2000 and 2040
    # ISBN-13, or an EAN/UPC/GTIN the text calls one, is a barcode.
    return not (12 <= len(d) <= 14 and _gs1_ok(d) and (
        d.startswith(("978", "979"))
        or _BARCODE_CONTEXT.search(text[max(0, start - 40):start].lower()) is not None))


def _find_cards(text: str, lo: int, hi: int) -> list[_Cand]:
    out: list[_Cand] = []
    for m in _CARD.finditer(text, lo, hi):
        s, e = m.start(), m.end()
        if s and (text[s - 1].isalnum() or text[s - 1] in "_.-/$€£"):
            continue  # part of a decimal, an identifier or a price
        nxt = text[e:e + 2]
        if nxt[:1].isalnum() or nxt[:1] == "_" or (
                len(nxt) == 2 and nxt[0] in ".-" and nxt[1].isdigit()):
            continue  # commas are fine on both sides: CSV rows
        groups = [(g.start(), g.end()) for g in _CARD_GROUP.finditer(text, s, e)]
        # Try the whole run first, then contiguous sub-runs ("exp 2027 4111 1111 ...").
        found = False
        for i in range(len(groups)):
            for j in range(len(groups), i, -1):
                digits = "".join(text[a:b] for a, b in groups[i:j])
                if len(digits) < 13:
                    break
                if len(digits) <= 19 and _issuer_ok(digits) and luhn_ok(digits):
                    out.append(("card", groups[i][0], groups[j - 1][1]))
                    found = True
                    break
            if found:
                break
        # Unknown issuer or length: the whole run only (a sub-run of a long tracking number
        # passes Luhn one time in ten), and never right after "+" (an international phone).
        if not found and not (s and text[s - 1] == "+") and _possible_card(
                "".join(text[a:b] for a, b in groups), text, s, len(groups) > 1):
            out.append(("card", s, e))
    return out


# --- IBAN ------------------------------------------------------------------------------

_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
# Anchored on the two check digits (a digit-led pattern is cheap to search for); the
# country code is the two letters before them.
_IBAN = re.compile(
    r"[0-9](?<=(?<![A-Za-z0-9])[A-Za-z]{2}[0-9])[0-9]"
    r"(?:[A-Za-z0-9]{11,30}|(?:[ \-][A-Za-z0-9]{4}){2,8}(?:[ \-][A-Za-z0-9]{1,3})?)"
)


def iban_ok(iban: str) -> bool:
    """ISO 13616 check: known country, exact length, mod-97 remainder of 1."""
    s = iban.replace(" ", "").replace("-", "").upper()
    if _IBAN_LENGTHS.get(s[:2]) != len(s) or not (s.isascii() and s.isalnum()):
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _find_ibans(text: str, lo: int, hi: int) -> list[_Cand]:
    out: list[_Cand] = []
    for m in _IBAN.finditer(text, max(0, lo - 2), hi):
        s = m.start() - 2
        length = _IBAN_LENGTHS.get(text[s:s + 2].upper())
        if length is None:
            continue
        # The spaced form may run into following words: keep exactly `length` characters.
        count, end = 0, s
        for k in range(s, m.end()):
            if text[k].isalnum():
                count += 1
                if count == length:
                    end = k + 1
                    break
        if count < length or (end < len(text) and text[end].isalnum()):
            continue
        if iban_ok(text[s:end]):
            out.append(("iban", s, end))
    return out


# --- national ids ----------------------------------------------------------------------

_SSN = re.compile(r"[0-9][0-9]{2}-[0-9]{2}-[0-9]{4}")
# UK National Insurance number: two prefix letters (checked in code), six digits, A-D.
_NINO_DIGITS = re.compile(r"[0-9][0-9](?: ?[0-9]{2}){2} ?[A-D](?![A-Za-z0-9])")
_NINO_PREFIX = re.compile(r"(?<![A-Za-z0-9])[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?$")
_NINO_BAD_PREFIXES = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def _ssn_ok(area: str, group: str, serial: str) -> bool:
    """US SSA rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return (area not in ("000", "666") and area[0] != "9" and group != "00"
            and serial != "0000")


def _find_national_ids(text: str, lo: int, hi: int, dashes: bool = True) -> list[_Cand]:
    out: list[_Cand] = []
    for m in _SSN.finditer(text, lo, hi) if dashes else ():
        s, e = m.start(), m.end()
        if s and (text[s - 1].isalnum() or text[s - 1] in "-_."):
            continue
        if e < len(text) and (text[e].isalnum() or text[e] in "-_"):
            continue
        a, g, sr = m.group().split("-")
        if _ssn_ok(a, g, sr):
            out.append(("national_id", s, e))
    for m in _NINO_DIGITS.finditer(text, lo, hi):
        s = m.start()
        p = _NINO_PREFIX.search(text, max(0, s - 3), s)
        if p and p.group()[:2] not in _NINO_BAD_PREFIXES:
            out.append(("national_id", p.start(), m.end()))
    return out


# --- European national ids (python-stdnum) ---------------------------------------------

# Shapes that are distinctive enough, with their checksum, to flag anywhere, and the
# stdnum validators to try on each. "d6" shapes (YYMMDD-NNNN and friends) are shared by
# Finland, Sweden and Denmark; Denmark's CPR has had no checksum since 2007 (only a valid
# date), so it, like every bare digit run, needs an id word in front of it.
_EU_ID = re.compile(
    r"""(?<![A-Za-z0-9])(?:
        (?P<dni>[0-9]{8}-?[A-Za-z])
      | (?P<nie>[XYZxyz]-?[0-9]{7}-?[A-Za-z])
      | (?P<d6>(?:[0-9]{2})?[0-9]{6}[-+A-FU-Ya-fu-y][0-9]{3}[0-9A-Ya-y])
      | (?P<rc>[0-9]{6}/[0-9]{3,4})
      | (?P<ahv>756\.[0-9]{4}\.[0-9]{4}\.[0-9]{2})
      | (?P<nn>[0-9]{2}\.[0-9]{2}\.[0-9]{2}-[0-9]{3}\.[0-9]{2})
      | (?P<nir>[12](?:\ [0-9]{2}){2}\ (?:[0-9]{2}|2[ABab])(?:\ [0-9]{3}){2}\ [0-9]{2})
      | (?P<digits>[0-9](?:[ .\-/]?[0-9]){8,14})
    )(?![A-Za-z0-9])""",
    re.VERBOSE,
)
_EU_ID_SHAPES: dict[str, tuple[str, ...]] = {
    "dni": ("es.dni",),
    "nie": ("es.nie",),
    "d6": ("fi.hetu", "se.personnummer"),
    "rc": ("cz.rc",),
    "ahv": ("ch.ssn",),
    "nn": ("be.nn",),
    "nir": ("fr.nir",),
}
# Bare digit runs (and the Danish CPR) by length: mod-11 / mod-10 checksums pass one
# random number in 10 to 300, so these count only after an id word.
_EU_ID_BY_LENGTH: dict[int, tuple[str, ...]] = {
    9: ("nl.bsn", "pt.nif", "cz.rc"),
    10: ("dk.cpr", "se.personnummer", "cz.rc", "at.vnr"),
    11: ("de.idnr", "pl.pesel", "be.nn", "no.fodselsnummer", "ee.ik"),
    12: ("se.personnummer",),
    13: ("ro.cnp", "ch.ssn"),
    15: ("fr.nir",),
}
# Searched in the lower-cased 60 characters before a number.
_ID_CONTEXT = re.compile(
    r"\b(?:bsn|burgerservice|sofi|nif|contribuinte|steuer|idnr|identifikationsnummer|tin|"
    r"tax ?(?:id|number|code|no)|pesel|cnp|f[øo]dselsnummer|personnummer|person ?nr|"
    r"isikukood|cpr|svnr|vsnr|versicherungsnummer|sozialversicherung|ahv|avs|rijksregister|"
    r"insz|niss|num[ée]ro national|registre national|national (?:id|number|identi)|nir|insee|"
    r"s[ée]curit[ée] sociale|s[ée]cu|social security|social insurance|rodn[ée] [čc][íi]slo|"
    r"hetu|henkil[öo]tunnus|dni|codice fiscale|id card|identity card|"
    r"(?:personal|citizen|identity) ?(?:id|number|no|nr|code))"
)


@functools.cache
def _stdnum(name: str) -> Any:
    """``stdnum.<name>``, imported on first use (all of them cost ~0.1 s to import)."""
    import importlib

    return importlib.import_module(f"stdnum.{name}")


def _id_valid(name: str, value: str) -> bool:
    try:
        return bool(_stdnum(name).is_valid(value))
    except Exception:  # noqa: BLE001 - a validator that chokes on a shape is a "no"
        return False


def _id_context(low: str, start: int) -> bool:
    return _ID_CONTEXT.search(low, max(0, start - 60), start) is not None


def _find_eu_ids(text: str, lo: int, hi: int, low: str) -> list[_Cand]:
    """Spanish DNI/NIE, Finnish HETU, Swedish personnummer, Czech rodné číslo, Swiss AHV,
    Belgian national number, French NIR by shape and checksum; bare numbers (Dutch BSN,
    Portuguese NIF, German IdNr, Polish PESEL, Danish CPR, Austrian SVNR, Norwegian
    fødselsnummer, Estonian isikukood, Romanian CNP...) only after an id word."""
    out: list[_Cand] = []
    context: bool | None = None  # any id word near the window at all? (computed once)
    for m in _EU_ID.finditer(text, lo, hi):
        shape = m.lastgroup or ""
        s, e = m.start(), m.end()
        value = m.group()
        if shape != "digits":
            if any(_id_valid(v, value) for v in _EU_ID_SHAPES[shape]) or (
                    shape == "d6" and _id_context(low, s) and _id_valid("dk.cpr", value)):
                out.append(("national_id", s, e))
            continue
        if context is None:
            context = _ID_CONTEXT.search(low, max(0, lo - 60), hi) is not None
        if not context or not _id_context(low, s):
            continue
        # The run may have swallowed a neighbouring number ("pesel 44051401359 2024"):
        # try the whole run, then its prefixes that end between two groups.
        cuts = [k for k in range(s + 1, e) if not text[k].isdigit()] + [e]
        for end in reversed(cuts):
            digits = "".join(c for c in text[s:end] if c.isdigit())
            names = _EU_ID_BY_LENGTH.get(len(digits), ())
            if any(_id_valid(v, digits) for v in names):
                out.append(("national_id", s, end))
                break
    return out


_CODICE_FISCALE = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{6}[0-9LMNP-Vlmnp-v]{2}[A-EHLMPR-Ta-ehlmpr-t][0-9LMNP-Vlmnp-v]{2}"
    r"[A-Za-z][0-9LMNP-Vlmnp-v]{3}[A-Za-z](?![A-Za-z0-9])"
)


def _find_codice_fiscale(text: str, lo: int, hi: int) -> list[_Cand]:
    """Italian codice fiscale (16 characters, check letter) inside a 16-19 character word."""
    return [("national_id", m.start(), m.end()) for m in _CODICE_FISCALE.finditer(text, lo, hi)
            if _id_valid("it.codicefiscale", m.group())]


# --- IP addresses ----------------------------------------------------------------------

_IPV4 = re.compile(r"[0-9][0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
_IPV6 = re.compile(r"[0-9A-Fa-f:][0-9A-Fa-f:.]{1,44}")
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
_NUMBERING_WORD = re.compile(  # searched in the lower-cased dozen characters before a quad
    r"(?:section|sect?\.|version|ver\.|release|build|chapter|clause|rule|step|figure|fig\.|"
    r"table|appendix|item|§)\s*$"
)


def _find_ipv4(text: str, lo: int, hi: int) -> list[_Cand]:
    out: list[_Cand] = []
    for m in _IPV4.finditer(text, lo, hi):
        s, e = m.start(), m.end()
        if s and (text[s - 1].isalnum() or text[s - 1] in "._"):
            continue  # v2.0.1.4, 1.2.3.4.5
        if e < len(text) and (text[e].isalnum() or text[e] == "_" or (
                text[e] == "." and e + 1 < len(text) and text[e + 1].isdigit())):
            continue
        if any(len(o) > 1 and o[0] == "0" or int(o) > 255 for o in m.group().split(".")):
            continue
        if _NUMBERING_WORD.search(text[max(0, s - 12):s].lower()):
            continue  # "Section 4.1.2.3", "version 1.0.0.0": numbering, not an address
        out.append(("ip_address", s, e))
    return out


def _find_ipv6(text: str) -> list[_Cand]:
    out: list[_Cand] = []
    word_end = -1
    for h in _IPV6_HINT.finditer(text):
        if h.start() < word_end:
            continue
        lo = _word_start(text, h.start(), max(0, h.start() - 60))
        word_end = _word_end(text, h.end())
        for m in _IPV6.finditer(text, lo, word_end):
            cand = m.group().rstrip(".")
            if cand.count(":") < 2:
                continue
            s = m.start()
            e = s + len(cand)
            if s and (text[s - 1].isalnum() or text[s - 1] in "_."):
                continue
            if e < len(text) and (text[e].isalnum() or text[e] == "_"):
                continue
            try:
                ipaddress.IPv6Address(cand)
            except ValueError:
                continue
            groups = [g for g in cand.replace(".", ":").split(":") if g]
            # "::1" is loopback, but "a[1::2]" / "x[::1]" are Python slices.
            if len(groups) < 3 and (cand != "::1" or (
                    s >= 2 and text[s - 1] == "[" and
                    (text[s - 2].isalnum() or text[s - 2] in "_)]"))):
                continue
            out.append(("ip_address", s, e))
    return out


# --- phone numbers ---------------------------------------------------------------------

# Digits joined by single separators / parentheses, optionally led by "+", "(" or "(+".
_PHONE = re.compile(
    r"[+(0-9](?:(?<=\()\+?[0-9]|(?<=\+)[0-9]|(?<=[0-9]))"
    r"(?:[0-9]|[ .\-/\u00a0]\(?(?=[0-9])|\)[ .\-\u00a0]?(?=[0-9])|\((?=[0-9]))*"
)
_PHONE_GROUPS = re.compile(r"[0-9]+")
# Searched in the lower-cased 48 characters before a candidate (no IGNORECASE: faster).
_PHONE_CONTEXT = re.compile(
    r"phone|\btel\b|mobil|\bcell|\bcall|\btext|\bsms\b|whats ?app|\bfax\b|\bmob\b|\bph\b|"
    r"\bring|contact|\breach|\bdial|landline|hotline|\bsignal|appel|\bhandy|telefon|msisdn|wa\.me/"
)
_NANP = re.compile(r"1?[2-9][0-9]{2}[2-9][0-9]{6}")
_US_SHAPE = re.compile(
    r"(?:1[ .\-]?)?(?:\([0-9]{3}\) ?[0-9]{3}[.\-]|[0-9]{3}-[0-9]{3}-|[0-9]{3}\.[0-9]{3}\.)[0-9]{4}"
)
_DATE_SHAPE = re.compile(
    r"\(?(?:[0-9]{4}[./\- ][0-9]{1,2}[./\- ][0-9]{1,2}|[0-9]{1,2}[./\- ][0-9]{1,2}[./\- ]"
    r"[0-9]{2,4})\)?"
)
_NATIONAL_REGIONS = ("GB", "DE", "FR")


def _phone_context(text: str, start: int) -> bool:
    """Does the text just before ``start`` say this is a phone number?"""
    return _PHONE_CONTEXT.search(text[max(0, start - 48):start].lower()) is not None


@functools.lru_cache(maxsize=4096)
def _pn_status(number: str, region: str | None) -> tuple[bool, bool]:
    """(valid, possible) from phonenumbers, cached: validation costs ~50-150 us a number,
    and the router re-scans the same conversation history on every turn."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return False, False
    return phonenumbers.is_valid_number(parsed), phonenumbers.is_possible_number(parsed)


def _phone_ok(cand: str, text: str, start: int) -> bool:
    clean = cand.replace("(0)", " ")
    groups = _PHONE_GROUPS.findall(clean)
    digits = "".join(groups)
    nd = len(digits)
    if not 7 <= nd <= 15 or len(groups[-1]) < 2:
        return False
    stripped = clean.lstrip("(")
    intl = stripped.startswith("+") or digits.startswith("00")
    # Phone groups are never single digits, except the country code and, in international
    # form, the group right after it ("+33 6 12 34 56 78", "+1 415 ...").
    if any(len(g) == 1 for g in groups[2 if intl else 1:]):
        return False
    separated = len(groups) > 1
    if intl:
        if digits.startswith("00") and not stripped.startswith("+"):
            digits = digits[2:]
        if digits[0] == "1":  # +1: NANP shape, see below
            return len(digits) == 11 and _NANP.fullmatch(digits) is not None
        valid, possible = _pn_status("+" + digits, None)
        # "+CC ..." is almost never anything but a phone number, so a merely *possible*
        # number (e.g. the reserved +44 7700 900xxx drama range) counts when punctuated.
        return valid or (possible and (separated or _phone_context(text, start)))
    if _DATE_SHAPE.fullmatch(cand):
        return False
    if digits[0] != "0" and len(groups) > 1 and len(groups[0]) <= 3 and all(
            len(g) == 3 for g in groups[1:]):
        return False  # "2 345 678 901": a number with thousands separators
    if digits[0] == "0":
        if not separated and not 10 <= nd <= 11 and not _phone_context(text, start):
            return False
        statuses = [_pn_status(digits, region) for region in _NATIONAL_REGIONS]
        if any(valid for valid, _ in statuses):
            return True
        if separated and nd == 11 and statuses[0][1]:
            return True  # 07700 900123: UK-shaped (GB is first), reserved-for-fiction range
        return any(possible for _, possible in statuses) and _phone_context(text, start)
    if not (nd == 10 or (nd == 11 and digits[0] == "1")):
        return False
    if not separated and not _phone_context(text, start):
        return False  # a bare digit run is an order id unless something says "phone"
    # US/NANP: the numbering plan is a simple shape, and phonenumbers' validation walks
    # ~25 NANP regions (~0.3 ms), so check the shape directly. "(555) 123-4567" style
    # punctuation is unambiguous even when the exchange does not exist.
    return _NANP.fullmatch(digits) is not None or _US_SHAPE.fullmatch(cand) is not None


def _find_phones(text: str, lo: int, hi: int) -> list[_Cand]:
    out: list[_Cand] = []
    for m in _PHONE.finditer(text, lo, hi):
        s, e = m.start(), m.end()
        if e - s < 7:
            continue
        if e < len(text) and (text[e].isalnum() or text[e] in "_@%"):
            continue
        cand = m.group()
        prev = text[s - 1] if s else " "
        # "tel:+44...", "Ann,+44..." are fine; "3,141" / "v1.2" / "#123" / "$12" are not.
        if prev.isalnum() or prev in "_@/.:#$€£+-=,":
            if prev in ":," and (s < 2 or not text[s - 2].isdigit()):
                pass
            elif prev == "=":
                # "phone=+1415...", "?tel=4155552671&", "SUPPORT_PHONE=+44 20 ...": a value
                # after "=" is a phone number when its key says so or it is "+CC ..."; a
                # bare "id=4155552671" stays an id.
                if not (cand[0] == "+" or _phone_context(text, s)):
                    continue
            elif prev in "Bb" and text[max(0, s - 3):s].upper() == "%2B":
                cand = "+" + cand  # URL-encoded "+": "?phone=%2B14155552671"
            elif prev == "/" and text[max(0, s - 6):s].lower() == "wa.me/":
                cand = "+" + cand  # WhatsApp link: https://wa.me/14155552671
            else:
                continue
        if _phone_ok(cand, text, s):
            out.append(("phone", s, e))
    return out


# --- free-standing high-entropy tokens -------------------------------------------------

_LONG_TOKEN = re.compile(r"[A-Za-z0-9_+/\-]{20,}={0,2}")
_SSH_PUBKEY_TYPE = re.compile(r"(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp[0-9]+)[ \t]+$")
_NOT_SECRET_WORD = re.compile(r"[a-z][a-z0-9+.\-]*://|www\.|data:|sha[0-9]+[-:]|base64,", re.I)


def _find_tokens(text: str, lo: int, hi: int) -> list[_Cand]:
    """Random-looking tokens inside the word ``text[lo:hi]``."""
    out: list[_Cand] = []
    for m in _LONG_TOKEN.finditer(text, lo, hi):
        token = m.group()
        s = m.start()
        if s and (text[s - 1].isalnum() or text[s - 1] in "._"):
            continue  # tail of a dotted name / file name
        head = text[lo:s + 10]
        if _NOT_SECRET_WORD.search(head) or head.lstrip("\"'`([<").startswith(("/", "~", "./")):
            continue  # URL, path, digest or inline data: not a credential
        if token.startswith("AAAA") and _SSH_PUBKEY_TYPE.search(text, max(0, lo - 40), lo):
            continue  # "ssh-ed25519 AAAAC3Nza...": a *public* key, meant to be shared
        # A prefix is plenty to judge randomness and keeps an 8 kB blob from costing ms.
        if _looks_random(token[:256].rstrip("="), strict=True, min_len=20):
            out.append(("api_key", s, m.end()))
    return out


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def scan(text: str) -> list[Finding]:
    """Return every private span in ``text``, sorted by position and non-overlapping."""
    if not text:
        return []
    cands: list[_Cand] = []
    if "PRIVATE KEY" in text or "PuTTY-User-Key-File" in text:
        cands += _find_private_keys(text)
    low = text.lower()
    cands += _find_context_secrets(text, low)
    cands += _find_rule_secrets(text, low)
    if "@" in text:
        cands += _find_emails(text)
    if "%40" in text:
        cands += _find_urlencoded_emails(text)
    if "AKIA" in text or "ASIA" in text:  # base32 key ids often have no digit to anchor on
        cands += [("api_key", m.start(), m.end()) for m in _AWS_KEY_ID.finditer(text)]
    windows, words, short_words = _digit_windows(text)
    for lo, hi in words:
        cands += _find_vendor_tokens(text, lo, hi)
        cands += _find_tokens(text, lo, hi)
    for lo, hi in short_words:
        cands += _find_codice_fiscale(text, lo, hi)
    for lo, hi in windows:
        window = text[lo:hi]
        cands += _find_cards(text, lo, hi)
        cands += _find_ibans(text, lo, hi)
        cands += _find_national_ids(text, lo, hi, "-" in window)
        cands += _find_eu_ids(text, lo, hi, low)
        if window.count(".") >= 3:
            cands += _find_ipv4(text, lo, hi)
        cands += _find_phones(text, lo, hi)
    if "::" in text or _IPV6_HINT.search(text):
        cands += _find_ipv6(text)
    if not cands:
        return []
    return [Finding(k, s, e, text[s:e]) for k, s, e in _resolve(cands)]


def _resolve(cands: list[_Cand]) -> list[_Cand]:
    """Keep the highest-priority (then longest) candidate wherever candidates overlap."""
    cands.sort(key=lambda c: (_PRIORITY[c[0]], c[1] - c[2], c[1]))
    kept: list[_Cand] = []  # non-overlapping, ordered by start
    starts: list[int] = []
    for c in cands:
        i = bisect.bisect_right(starts, c[1])
        if (i and kept[i - 1][2] > c[1]) or (i < len(kept) and kept[i][1] < c[2]):
            continue
        kept.insert(i, c)
        starts.insert(i, c[1])
    return kept


def is_private(texts: Iterable[str]) -> bool:
    """True if any of ``texts`` contains personal data or a secret."""
    return any(scan(t) for t in texts if t)


_PHRASES = {
    "private_key": ("a private key", "private keys"),
    "api_key": ("an API key or secret", "API keys or secrets"),
    "card": ("a payment card number", "payment card numbers"),
    "possible_card": ("a possible card number", "possible card numbers"),
    "iban": ("a bank account number (IBAN)", "bank account numbers (IBANs)"),
    "national_id": ("a national ID number", "national ID numbers"),
    "email": ("an email address", "email addresses"),
    "phone": ("a phone number", "phone numbers"),
    "ip_address": ("an IP address", "IP addresses"),
}


_DESCRIBE_ORDER = KINDS[:KINDS.index("card") + 1] + ("possible_card",) + KINDS[
    KINDS.index("card") + 1:]


def describe(findings: Iterable[Finding]) -> str:
    """Plain-words reason, e.g. "contains a payment card number and an email address".

    A card number with a known issuer prefix and length is "a payment card number"; a
    Luhn-valid number whose issuer we do not know is "a possible card number".
    """
    counts: Counter[str] = Counter()
    for f in findings:
        kind = f.kind
        if kind == "card" and not _issuer_ok("".join(c for c in f.text if c.isdigit())):
            kind = "possible_card"
        counts[kind] += 1
    if not counts:
        return "contains no personal data or secrets"
    parts = []
    for kind in _DESCRIBE_ORDER:  # most sensitive first
        n = counts.get(kind, 0)
        if n:
            one, many = _PHRASES[kind]
            parts.append(one if n == 1 else f"{n} {many}")
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return "contains " + joined


# ---------------------------------------------------------------------------------------
# Redaction
# ---------------------------------------------------------------------------------------

_LABELS = {
    "email": "EMAIL",
    "phone": "PHONE",
    "card": "CARD",
    "iban": "IBAN",
    "national_id": "NATIONAL_ID",
    "ip_address": "IP",
    "api_key": "SECRET",
    "private_key": "PRIVATE_KEY",
}
_LABEL_ALIASES = {"NATIONALID": "NATIONAL_ID", "PRIVATEKEY": "PRIVATE_KEY"}
# Models echo placeholders with drifting case/spacing: "[email_1]", "[ EMAIL 1 ]", "\[CARD_2\]".
_PLACEHOLDER_TOKEN = re.compile(
    r"\\?\[\s*(EMAIL|PHONE|CARD|IBAN|NATIONAL[ _\-]?ID|IP|SECRET|PRIVATE[ _\-]?KEY)"
    r"[ _\-]?([0-9]+)\s*\\?\]",
    re.IGNORECASE,
)


def _normalise(kind: str, value: str) -> str:
    """Identity of a value, so "+44 20 7946 0958" and "+44-20-7946-0958" share a placeholder."""
    if kind in ("phone", "card", "national_id"):
        return "".join(c for c in value if c.isalnum()).upper()
    if kind in ("iban", "email", "ip_address"):
        return value.replace(" ", "").lower()
    return value


@dataclass
class Redaction:
    """Placeholder ↔ original mapping; reuse one object across a conversation's messages."""

    originals: dict[str, str] = field(default_factory=dict)  # "EMAIL_1" -> original text
    _by_value: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _counters: Counter[str] = field(default_factory=Counter, repr=False)

    def placeholder(self, finding: Finding, avoid: str = "") -> str:
        """Stable placeholder for ``finding`` (same value → same placeholder)."""
        key = (finding.kind, _normalise(finding.kind, finding.text))
        token = self._by_value.get(key)
        if token is None:
            label = _LABELS[finding.kind]
            while True:  # never reuse a token that already appears literally in the text
                self._counters[label] += 1
                token = f"{label}_{self._counters[label]}"
                if f"[{token}]" not in avoid:
                    break
            self._by_value[key] = token
            self.originals[token] = finding.text
        return f"[{token}]"

    def restore(self, text: str) -> str:
        """Put originals back wherever the model echoed a known placeholder."""
        if not self.originals or "[" not in text:
            return text

        def sub(m: re.Match[str]) -> str:
            label = re.sub(r"[ _\-]", "", m.group(1).upper())
            label = _LABEL_ALIASES.get(label, label)
            return self.originals.get(f"{label}_{int(m.group(2))}", m.group())

        return _PLACEHOLDER_TOKEN.sub(sub, text)

    def __len__(self) -> int:
        return len(self.originals)


def redact(text: str, mapping: Redaction | None = None) -> tuple[str, Redaction]:
    """Replace every finding with a placeholder; returns the new text and the mapping.

    Pass the same ``mapping`` for every message of a conversation so a value keeps its
    placeholder. Redaction repeats (at most three passes) in case replacing one span makes
    a neighbour newly recognisable, so the result scans clean.
    """
    mapping = mapping if mapping is not None else Redaction()
    original = text
    for _ in range(3):
        findings = scan(text)
        if not findings:
            break
        parts: list[str] = []
        pos = 0
        for f in findings:
            parts.append(text[pos:f.start])
            parts.append(mapping.placeholder(f, avoid=original))
            pos = f.end
        parts.append(text[pos:])
        text = "".join(parts)
    return text, mapping


# ---------------------------------------------------------------------------------------
# Corpus measurement (shared by tests and benchmarks)
# ---------------------------------------------------------------------------------------


def measure_corpus(path: str | Path) -> dict[str, Any]:
    """Score :func:`scan` on a JSONL corpus of ``{"text", "private", "kinds", "note"}``.

    Returns recall (private prompts flagged), false_positive_rate (public prompts flagged),
    counts, per-kind recall (prompts labelled with a kind in which that kind was found),
    and the misses / false positives for inspection.
    """
    tp = fn = fp = tn = 0
    kind_total: Counter[str] = Counter()
    kind_hit: Counter[str] = Counter()
    misses: list[dict[str, Any]] = []
    false_positives: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            findings = scan(row["text"])
            found_kinds = {f.kind for f in findings}
            if row["private"]:
                if findings:
                    tp += 1
                else:
                    fn += 1
                    misses.append({"text": row["text"], "kinds": row.get("kinds", []),
                                   "note": row.get("note", "")})
                for kind in set(row.get("kinds", [])):
                    kind_total[kind] += 1
                    kind_hit[kind] += kind in found_kinds
            elif findings:
                fp += 1
                false_positives.append({
                    "text": row["text"], "note": row.get("note", ""),
                    "found": [(f.kind, f.text) for f in findings],
                })
            else:
                tn += 1
    private, public = tp + fn, fp + tn
    return {
        "recall": tp / private if private else 1.0,
        "false_positive_rate": fp / public if public else 0.0,
        "counts": {"total": private + public, "private": private, "public": public,
                   "true_positive": tp, "false_negative": fn, "false_positive": fp,
                   "true_negative": tn},
        "per_kind_recall": {k: kind_hit[k] / kind_total[k] for k in sorted(kind_total)},
        "misses": misses,
        "false_positives": false_positives,
    }
