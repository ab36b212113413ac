"""Experts: system prompts kept as Markdown files with front matter in ``prompts/``.

A file looks like::

    ---
    name: General assistant
    description: ...
    tier: embedded          # the tier it starts on: embedded, local or cloud
    temperature: 0.6
    purpose: chat
    ---
    You are ...

A malformed file is reported by its name and skipped; it never stops the others loading.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from llm.providers import TIER_ORDER as TIERS
from llm.router import PURPOSES

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
DEFAULT_EXPERT = "general"


class ExpertError(ValueError):
    """An expert file that cannot be used; the message names the file and the fault."""


@dataclass(frozen=True)
class Expert:
    slug: str
    name: str
    description: str
    system_prompt: str
    tier: str = "embedded"
    temperature: float = 0.6
    purpose: str = "chat"


def parse_expert(slug: str, text: str) -> Expert:
    source = f"prompts/{slug}.md"
    if not text.startswith("---"):
        raise ExpertError(f"{source} has no front matter: start it with a '---' line.")
    parts = text.split("\n---", 1)
    if len(parts) != 2:
        raise ExpertError(f"{source}: the front matter is not closed by a '---' line.")
    header, body = parts[0][3:], parts[1].lstrip("-").strip()
    try:
        meta = yaml.safe_load(header) or {}
    except yaml.YAMLError as exc:
        raise ExpertError(f"{source}: the front matter is not valid YAML ({exc}).") from exc
    if not isinstance(meta, dict):
        raise ExpertError(f"{source}: the front matter must be 'key: value' lines.")
    if not meta.get("name"):
        raise ExpertError(f"{source}: the front matter needs a 'name'.")
    if not body:
        raise ExpertError(f"{source}: the system prompt below the front matter is empty.")
    tier = str(meta.get("tier", "embedded"))
    if tier not in TIERS:
        raise ExpertError(f"{source}: tier must be one of {', '.join(TIERS)}, not {tier!r}.")
    purpose = str(meta.get("purpose", "chat"))
    if purpose not in PURPOSES:
        raise ExpertError(
            f"{source}: purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}."
        )
    try:
        temperature = float(meta.get("temperature", 0.6))
    except (TypeError, ValueError) as exc:
        raise ExpertError(f"{source}: temperature must be a number.") from exc
    if not 0 <= temperature <= 2:
        raise ExpertError(f"{source}: temperature must be between 0 and 2.")
    return Expert(
        slug=slug,
        name=str(meta["name"]),
        description=str(meta.get("description", "")),
        system_prompt=body,
        tier=tier,
        temperature=temperature,
        purpose=purpose,
    )


def load_experts(directory: Path = PROMPTS_DIR) -> tuple[dict[str, Expert], list[str]]:
    """All experts in ``directory`` by slug, and one sentence per file that failed."""
    experts: dict[str, Expert] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.md")):
        try:
            experts[path.stem] = parse_expert(path.stem, path.read_text(encoding="utf-8"))
        except ExpertError as exc:
            problems.append(str(exc))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"prompts/{path.name} could not be read ({exc}).")
    return experts, problems


def load_expert(slug: str = DEFAULT_EXPERT, directory: Path = PROMPTS_DIR) -> Expert:
    path = directory / f"{slug}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExpertError(f"prompts/{slug}.md could not be read ({exc}).") from exc
    return parse_expert(slug, text)
