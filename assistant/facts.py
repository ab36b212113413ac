"""Facts first: questions Ambient can answer from its own data, answered from it exactly.

"What can you do?", "Summarise what I just did", "What is my name?", "How is my job
going?", "What is 17*23?": Ambient knows these answers — the action registry and the
pages, the activity log, Memory, the jobs table, arithmetic — and a model, least of all
a 135M one, can only get them wrong. So they are read by rule (like the statements in
``assistant.intents``) and answered with a sentence built from the data, on every tier,
without a model call.

1. ``recognise`` splits the user's message into sentences, strips greetings, politeness
   and wrappers ("can you tell me", "do you know", "remind me"), and matches each
   sentence *whole* against the phrasings of each kind of question. A whole-sentence
   match is what keeps "I can do it myself", "help me find a job" or "what is a link
   graph?" out. A message is answered from data only when every sentence in it is a
   recognised question, a greeting, or a plain statement the intents read ("My name is
   Ann. What is my name?"); otherwise it goes to the model, with the facts found given
   to it in the context.
2. ``answer`` builds the reply from the data: ``Answer.text`` and the sources it read.

The calculator is also an action (``calculate``, in ``assistant.builtin_actions``), so
the model's planner can propose it; here the rule path calls it directly, so a sum is
not logged as something the user did.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from assistant.actions import REGISTRY
from assistant.calculator import CalculationError, calculate, looks_arithmetic
from assistant.intents import rule_proposals
from core.events import Event, recent_events
from core.job_state import JobState, recent_jobs
from core.memory import facts, normalise_key, scope_for
from store.db import Database, utcnow

TIER = "facts"  # the tier stored on a reply answered from data (no model, no ledger row)
EVENTS_SHOWN = 10
JOBS_SHOWN = 3
JOBS_READ = 20  # the newest jobs searched for the one the user names
JOB_PAGES = ("Long job", "Competitive analysis")  # the pages that start jobs

ABILITIES, ACTIVITY, MEMORY, JOBS, CALCULATE = (
    "abilities", "activity", "memory", "jobs", "calculate",
)
SOURCES = {
    ABILITIES: "the action registry and the pages",
    ACTIVITY: "the activity log",
    MEMORY: "Memory",
    JOBS: "the jobs table",
    CALCULATE: "the calculator",
}


@dataclass(frozen=True)
class Question:
    kind: str  # one of ABILITIES, ACTIVITY, MEMORY, JOBS, CALCULATE
    detail: tuple[str, ...] = ()  # memory keys ("*" for all), job words, the expression
    sentence: str = ""


@dataclass(frozen=True)
class Recognised:
    questions: tuple[Question, ...]
    complete: bool  # nothing else in the message needs a model


@dataclass(frozen=True)
class Answer:
    text: str
    sources: tuple[str, ...]

    @property
    def answered_from(self) -> str:
        return ", ".join(SOURCES[s] for s in self.sources)


# -- reading the message --------------------------------------------------------------------

_QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'", "“": '"', "”": '"'})
_SENTENCES = re.compile(
    r"(?<=[?!])\s*|(?<=\.)\s+|\n+"
    r"|,?\s+and\s+(?=(?:what|what's|how|who|where|is|are|did|do|can|could|tell)\b)",
    re.IGNORECASE,
)
_FILLER = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|yo|ok|okay|so|and|also|now|well|then|right|oh|um|hmm|"
    r"please|quick question|one more thing|ambient|assistant|dear assistant)"
    r"(?:\s+there)?\s*[,:;!\-]*\s+)+"
)
_WRAPPER = re.compile(
    r"^(?:(?:can|could|would|will) you (?:please )?(?:tell|show|remind|give) me"
    r"|please (?:tell|show|remind|give) me|tell me|show me|remind me|give me"
    r"|i'?d like to know|i want to know|i wonder|i'm wondering|do you know"
    r"|do you remember|any idea|let me know|let's see)\s*[,:]?\s+"
)
_TRAILER = re.compile(
    r"(?:\s*,?\s*(?:please|pls|thanks|thank you|again|now|then|for me|real quick|"
    r"by the way|btw)\b)+$"
)
_SMALL_TALK = re.compile(
    r"(?:hi|hello|hey|hiya|yo|thanks|thank you|thx|cheers|ok|okay|cool|great|nice|"
    r"good morning|good afternoon|good evening)(?:\s+(?:there|so much|a lot|again|"
    r"ambient|assistant))*"
)


def _clean(sentence: str) -> str:
    text = " ".join(sentence.translate(_QUOTES).lower().split())
    text = text.strip(" ?!.,;:\"'")
    for _ in range(2):  # "hi, so can you tell me ..."
        text = _FILLER.sub("", text)
        text = _WRAPPER.sub("", text)
    return _TRAILER.sub("", text).strip(" ?!.,;:\"'")


_WHAT_IS = r"(?:what(?:'s|s| is| are|'re| was)|whats)"

# What it can do: the registry and the pages.
_ABILITIES = re.compile(
    r"(?:"
    r"what (?:else )?(?:can|could) (?:you|ambient|the assistant) do"
    r"(?: for (?:me|us)| here| in (?:ambient|this app|the app)| exactly| today| anyway)?"
    r"|what (?:else )?(?:you|ambient) can do(?: for (?:me|us)| here| in (?:ambient|this app))?"
    r"|what (?:else )?(?:can|could) you help(?: me| us)?(?: with)?(?: here)?"
    r"|(?:how|in what ways?) (?:can|could) you help(?: me| us)?(?: here)?"
    r"|(?:can|could) you help(?: me| us)?"
    r"|what (?:are you (?:able to do|capable of|good at|for)|do you do(?: here)?)"
    r"|what are (?:your|the assistant's) (?:capabilities|abilities|features|skills|actions|"
    r"commands|functions|options|powers)"
    r"|(?:your|the|all|all your|all the)(?: available)? (?:capabilities|abilities|actions|"
    r"commands)"
    r"|(?:list|show)(?: me)? (?:your|the|all|all your|all the)(?: available)? (?:actions|"
    r"commands|capabilities|abilities)"
    r"|what (?:actions|commands|things|tools) (?:can you (?:do|take|run|perform|use)|"
    r"do you (?:have|know|support|understand|offer))"
    r"|what can i (?:ask|do|say|tell)(?: you)?(?: to do)?(?: here| in ambient| with you)?"
    r"|how do i use (?:you|this|ambient|this app|the assistant)"
    r"|help|help me|i need help"
    r")"
)

# What the user just did: the activity log.
_WHEN = (r"(?: so far| today| recently| just now| lately| last| here| before| earlier"
         r"| a moment ago| in (?:this|the) (?:session|app))?")
_I_DID = (r"i (?:just |recently |last |already |have |'ve |have just |'ve just )?"
          r"(?:did|done|was doing|have been doing|been doing)")
_ACTIVITY_NOUN = (r"(?:my |the )?(?:recent |latest |last )?(?:activity|actions|steps|history|"
                  r"events)(?: log)?")
_ACTIVITY = re.compile(
    r"(?:"
    r"what (?:did|have|'ve) i (?:just |recently |last |already )?(?:do|done|been doing)" + _WHEN +
    r"|what (?:was|were) i (?:just )?doing" + _WHEN +
    r"|what " + _I_DID + _WHEN +
    r"|(?:summari[sz]e|recap|list|describe|review|sum up)(?: for me)? "
    r"(?:what " + _I_DID + r"|" + _ACTIVITY_NOUN + r"|(?:this|the|my) session)" + _WHEN +
    r"|(?:a |the )?(?:summary|recap|list|log) of (?:what " + _I_DID + r"|" + _ACTIVITY_NOUN +
    r"|(?:this|the|my) session)" + _WHEN +
    r"|(?:my|the) (?:recent |latest |last )?(?:activity|actions|history|events)(?: log)?"
    r"|recent activity|activity log"
    r"|what(?: has| just)? happened" + _WHEN +
    r"|where was i|where did i leave off"
    r")"
)

# What it remembers: Memory.
_MEMORY_ALL = re.compile(
    r"(?:"
    r"what (?:else )?(?:do |did |else do )?you (?:know|remember|recall)"
    r"(?: about (?:me|myself|us))?"
    r"|what (?:have|did) you (?:remembered|learned|learnt|stored|saved|kept|noted)"
    r"(?: about (?:me|myself))?"
    r"|what (?:have|did) i (?:tell|told) you(?: about (?:me|myself))?"
    r"|what i (?:have |'ve )?told you(?: about (?:me|myself))?"
    r"|" + _WHAT_IS + r" in (?:your |the )?memory"
    r"|what facts (?:do you (?:have|know|remember)|have you (?:got|stored|saved))"
    r"(?: about me)?"
    r"|(?:list|show)(?: me)? (?:my |the |your |all )?(?:remembered |stored )?(?:facts|memory)"
    r"|(?:my|your) (?:remembered |stored )?(?:facts|memory)"
    r"|me"
    r")"
)
_MEMORY_NAME = re.compile(
    r"who am i|who i am|what do you call me|what (?:should|will|would) you call me"
    r"|what you call me|do you know me"
)
_MEMORY_KEYS = re.compile(
    r"(?:" + _WHAT_IS + r" |what )?my (?P<keys>[a-z][a-z' ,-]{0,80}?)(?: is| are)?"
)
_NOT_MEMORY = {
    # "what is my <this>" is app data, not a remembered fact: tasks, jobs, costs, ...
    "task", "tasks", "todo", "todos", "to-do", "list", "job", "jobs", "analysis", "scan",
    "graph", "spend", "spending", "cost", "costs", "budget", "budgets", "savings", "bill",
    "tier", "model", "expert", "page", "activity", "history", "progress", "status", "plan",
    "score", "conversation", "conversations", "message", "messages", "question", "last",
    "latest", "previous", "next", "current", "problem", "error", "errors", "name's",
}
_NOT_A_KEY = {"is", "are", "was", "were", "be", "am", "been", "to", "for", "the", "a", "an",
              "of", "on", "in", "with", "about", "do", "does", "did", "should", "can"}
_SPELLING = {"favorite": "favourite", "color": "colour", "colors": "colours"}

# Where a job stands: the jobs table.
_JOB = r"(?:(?:the|my|that|this|our|a|any) )?(?:[a-z]+ ){0,2}?(?:jobs?|analys[ie]s)"
_JOB_NAMED = re.compile(r"\b((?:[a-z]+ ){0,2})(?:jobs?|analys[ie]s)\b")
_JOBS = re.compile(
    r"(?:"
    r"(?:" + _WHAT_IS + r" )?(?:the )?(?:status|progress|state) (?:of|on) " + _JOB +
    r"|(?:" + _WHAT_IS + r" )?" + _JOB + r"(?:'s)? (?:status|progress|state)"
    r"|how(?:'s|s| is| are) " + _JOB +
    r" (?:going|doing|coming along|getting on|progressing|looking)"
    r"|how far (?:along )?(?:is|are|has|have|did) " + _JOB +
    r"(?: got(?:ten)?| gone| come)?(?: along)?"
    r"|(?:is|are|has|have) " + _JOB + r" (?:done|finished|complete|completed|over|running|"
    r"still running|ready|stopped|stuck|failed|ended)(?: yet)?"
    r"|did " + _JOB + r" (?:finish|fail|work|complete|succeed|end|stop|run)"
    r"|where (?:does|do|is|are) " + _JOB + r" (?:stand|at|now)"
    r"|where " + _JOB + r" (?:stands|is|are)"
    r"|what happened (?:to|with) " + _JOB +
    r"|(?:were there |are there |any )(?:errors|failures|problems)(?: in| with)? " + _JOB +
    r"|(?:what|which) jobs? (?:are|is) (?:running|going on|active)"
    r"|what(?:'s| is) running|is (?:anything|something|a job) running"
    r"|(?:list|show)(?: me)? " + _JOB +
    r"|(?:my|the) (?:latest |last |recent )?jobs"
    r")"
)
_JOB_STOP = {"the", "my", "that", "this", "our", "a", "any", "job", "jobs", "latest", "last",
             "recent", "current", "running", "new", "old", "of", "on", "in", "with", "to",
             "is", "are", "has", "have", "did", "does", "do", "how", "far", "along", "where",
             "what", "whats", "what's", "status", "progress", "state", "errors", "failures",
             "problems", "there", "were", "happened", "show", "list", "me", "which", "hows",
             "how's"}

# Arithmetic: the calculator.
_ASK_SUM = re.compile(
    r"(?:" + _WHAT_IS + r"|how much is|how much are|what does|what do)\s+(?P<expr>.+?)"
    r"(?:\s+(?:equal|equals|make|come to|give))?"
)
_ASK_SUM_AFTER = re.compile(r"what (?P<expr>.+?) (?:is|are|equals|makes|comes to)")
_DO_SUM = re.compile(r"(?:calculate|compute|evaluate|work out|solve|calc)\s*:?\s+(?P<expr>.+)")


def _memory_keys(raw: str) -> tuple[str, ...] | None:
    parts = [p.strip(" '") for p in re.split(r",|\band\b(?: my\b)?", raw) if p.strip(" '")]
    keys = []
    for part in parts:
        words = [_SPELLING.get(w, w) for w in part.removeprefix("my ").split()]
        if not words or len(words) > 4 or any(w in _NOT_A_KEY or "'" in w for w in words):
            return None
        if any(w in _NOT_MEMORY for w in words):
            return None
        try:
            keys.append(normalise_key(" ".join(words)))
        except ValueError:
            return None
    return tuple(keys) or None


def _job_words(text: str) -> tuple[str, ...]:
    """The words naming a job ("the long job" → long; "the analysis" → analysis)."""
    named = _JOB_NAMED.search(text)
    words = named[1].split() if named else []
    words = [w for w in words if w not in _JOB_STOP]
    if re.search(r"\banalys[ie]s\b", text):
        words.append("analysis")
    return tuple(words)


def _question(sentence: str) -> Question | None:
    text = _clean(sentence)
    if not text:
        return None
    if _ABILITIES.fullmatch(text):
        return Question(ABILITIES, (), sentence)
    if _ACTIVITY.fullmatch(text):
        return Question(ACTIVITY, (), sentence)
    if _MEMORY_ALL.fullmatch(text):
        return Question(MEMORY, ("*",), sentence)
    if _MEMORY_NAME.fullmatch(text):
        return Question(MEMORY, ("name",), sentence)
    if _JOBS.fullmatch(text):
        return Question(JOBS, _job_words(text), sentence)
    if found := _MEMORY_KEYS.fullmatch(text):
        keys = _memory_keys(found["keys"])
        if keys:
            return Question(MEMORY, keys, sentence)
    return _sum(sentence, text)


def _sum(sentence: str, text: str) -> Question | None:
    """Arithmetic, alone ("17 * 23 =") or asked ("what is 17*23", "how much is 3 x 4")
    must be nothing but arithmetic; told ("calculate sqrt(16)") it only needs a number
    and an operator, and the calculator says what it cannot do."""
    if looks_arithmetic(text):
        return Question(CALCULATE, (text,), sentence)
    found = _ASK_SUM.fullmatch(text) or _ASK_SUM_AFTER.fullmatch(text)
    if found and looks_arithmetic(found["expr"]):
        return Question(CALCULATE, (found["expr"],), sentence)
    found = _DO_SUM.fullmatch(text)
    if found and re.search(r"\d", found["expr"]) and re.search(r"[-+*/%^()×÷]|\d\s*x\s*\d",
                                                                found["expr"]):
        return Question(CALCULATE, (found["expr"],), sentence)
    return None


def sentences(text: str) -> list[str]:
    return [p for p in _SENTENCES.split(text.strip()) if p and p.strip(" ,.;:!?")]


def recognise(text: str) -> Recognised | None:
    """The questions in ``text`` that Ambient answers from its data, or None if there are
    none. ``complete`` says nothing else in the message needs a model."""
    found: list[Question] = []
    complete = True
    for sentence in sentences(text):
        question = _question(sentence)
        if question is not None:
            if question not in found:
                found.append(question)
        elif not (_SMALL_TALK.fullmatch(_clean(sentence)) or not _clean(sentence)
                  or rule_proposals(sentence)):
            complete = False
    return Recognised(tuple(found), complete) if found else None


# -- answering from the data -----------------------------------------------------------------


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "at an unknown time"
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 45:
        return "just now"
    if seconds < 90:
        return "a minute ago"
    if seconds < 3600:
        return f"{round(seconds / 60)} min ago"
    if seconds < 86400:
        hours = round(seconds / 3600)
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    days = round(seconds / 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"


def _plain(text: str) -> str:
    """Data shown as it is: a "$" would start a formula in the chat's Markdown."""
    return text.replace("$", "\\$")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


_YOUR_VOICE = (
    ("the user tells you", "you tell me"), ("the user asks you", "you ask me"),
    ("the user's", "your"), ("themselves", "yourself"), ("the user", "you"),
)


def _offer(description: str) -> str:
    """An action's description (written for the model) as a line for the user: its first
    sentence, in the second person."""
    first = re.split(r"(?<=[.!?])\s+", description.strip(), maxsplit=1)[0]
    for model_words, user_words in _YOUR_VOICE:
        first = first.replace(model_words, user_words)
    return first


def abilities(pages: Sequence[str]) -> str:
    lines = [
        "I answer these from Ambient's own data, exactly, without asking a model: what I can "
        "do (this list), what you just did, what I remember about you, where your jobs "
        "stand, and arithmetic (“what is 17 * 23?”).",
        "",
        "What I can do in the app when you ask (the actions I know):",
    ]
    for action in REGISTRY.values():
        note = " I ask you first." if action.destructive else ""
        lines.append(f"- {_offer(action.description)}{note}")
    if pages:
        lines += ["", f"Pages I can open for you: {', '.join(pages)}."]
    lines += ["", "Anything else I pass to a language model."]
    return "\n".join(lines)


_KIND_NAMES = {
    "page_opened": "page opened", "step_completed": "step completed",
    "form_submitted": "form submitted", "job_started": "job started",
    "job_finished": "job finished", "error_shown": "error shown", "action_run": "action run",
}


def activity(events: Sequence[Event], now: datetime) -> str:
    if not events:
        return ("Nothing yet: the activity log of this session is empty. Open a page or run "
                "a step, and I will see it.")
    counts: dict[str, int] = {}
    for event in events:
        counts[event.kind] = counts.get(event.kind, 0) + 1
    tally = ", ".join(_plural(n, _KIND_NAMES.get(k, k.replace("_", " "))) for k, n in
                      counts.items())
    which = (f"your last {len(events)} events" if len(events) >= EVENTS_SHOWN
             else "everything you did in this session")
    lines = [f"From the activity log, {which} (oldest first; {tally}):"]
    for event in events:
        where = f" on {event.page}" if event.page else ""
        lines.append(f"- {_ago(event.created_at, now)}{where}: {_plain(event.summary)}")
    return "\n".join(lines)


def _teach(key: str) -> str:
    """A sentence the intents read, so the user can tell me the fact."""
    label = key.replace("_", " ")
    if key == "name":
        return "“My name is …”"
    if key.startswith("favourite_"):
        return f"“My {label} is …”"
    return f"“Remember that my {label} is …”"


def _lookup(known: dict[str, str], key: str) -> list[tuple[str, str]]:
    if key in known:
        return [(key, known[key])]
    words = set(key.split("_"))
    return [(k, v) for k, v in known.items() if words <= set(k.split("_"))]


def memory(known: dict[str, str], keys: Sequence[str], pages: Sequence[str]) -> str:
    page = " You can also use the Memory page." if "Memory" in pages else ""
    if "*" in keys:
        if not known:
            return ("I don't remember anything about you yet: Memory is empty. Tell me "
                    "“My name is …” or “Remember that my team is …” and I will." + page)
        lines = ["Here is what I remember about you (from Memory):"]
        lines += [f"- {k.replace('_', ' ')}: {_plain(v)}" for k, v in known.items()]
        lines += ["", "To change one, tell me the new value; to drop one, say “forget my …”."
                  + page]
        return "\n".join(lines)
    answers = []
    for key in keys:
        found = _lookup(known, key)
        if found:
            answers += [f"Your {k.replace('_', ' ')} is {_plain(v)}." for k, v in found]
        else:
            label = key.replace("_", " ")
            answers.append(f"I don't know your {label}: it is not in Memory. Tell me "
                           f"{_teach(key)} and I will remember it.")
    return " ".join(answers)


def _job_line(job: JobState, now: datetime, pages: Sequence[str]) -> str:
    counted = f"{job.processed} of {_plural(job.total, 'item')}"
    if job.status == "running":
        line = f"running — {counted} ({job.percent}%), started {_ago(job.created_at, now)}"
        if job.quiet:
            line += (f"; no sign of progress for {round((job.quiet_for_s or 0) / 60) or 1} "
                     "min, so it may have stopped")
    elif job.status == "interrupted":
        line = f"interrupted after {counted}; it can be resumed"
    elif job.status == "cancelled":
        line = f"cancelled after {counted}"
    else:
        line = f"{job.status} — {counted}"  # done or failed
    if job.status != "running" and job.finished_at is not None:
        line += f", ended {_ago(job.finished_at, now)}"
    if job.failed and not job.error:  # the error, when there is one, says it already
        line += f"; {job.failed} failed"
    text = f"- {_plain(job.title)}: {line}."
    if job.error:
        text += f" {_plain(job.error.rstrip('.'))}."
    if job.first_item_error and job.first_item_error not in (job.error or ""):
        text += f" First error: {_plain(job.first_item_error.rstrip('.'))}."
    if job.title in pages and job.status in ("running", "interrupted"):
        text += f" See it on the {job.title} page."
    return text


def jobs(states: Sequence[JobState], words: Sequence[str], now: datetime,
         pages: Sequence[str]) -> str:
    """The newest jobs (those the user named, if any: "the long job"), one line each."""
    if not states:
        where = [p for p in JOB_PAGES if p in pages]
        hint = f" Start one on the {' or '.join(where)} page." if where else ""
        return f"No job has run in this session yet.{hint}"
    named = [j for j in states
             if all(w in f"{j.title} {j.kind}".lower().replace("_", " ") for w in words)]
    lead = ""
    if words and not named:
        lead = f"No {' '.join(words)} job has run in this session. "
    shown = (named or states)[:JOBS_SHOWN]
    lines = [_job_line(j, now, pages) for j in shown]
    if len(lines) == 1:
        return lead + lines[0].removeprefix("- ")
    return "\n".join([f"{lead}Your latest jobs (newest first):", *lines])


def calculation(expression: str) -> str:
    try:
        return calculate(expression).sentence()
    except CalculationError as exc:
        return str(exc)


def answer(db: Database, session_id: str, questions: Sequence[Question],
           pages: Sequence[str] = ()) -> Answer:
    """The reply to ``questions``, built from the data (one paragraph per question)."""
    now = utcnow()
    readers: dict[str, Callable[[Question], str]] = {
        ABILITIES: lambda q: abilities(pages),
        ACTIVITY: lambda q: activity(recent_events(db, session_id, EVENTS_SHOWN), now),
        MEMORY: lambda q: memory(facts(db, scope_for(db, session_id)), q.detail, pages),
        JOBS: lambda q: jobs(recent_jobs(db, session_id, JOBS_READ), q.detail, now, pages),
        CALCULATE: lambda q: calculation(q.detail[0]),
    }
    parts, sources = [], []
    for question in questions:
        parts.append(readers[question.kind](question))
        if question.kind not in sources:
            sources.append(question.kind)
    return Answer("\n\n".join(parts), tuple(sources))
