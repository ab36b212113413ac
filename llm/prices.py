"""The price table: what a million tokens cost on each model, and when that was checked.

Money is counted in nano-dollars (1e-9 USD) as integers, so sums in SQL are exact and
the ledger adds up to the cent. One file, ``llm/prices.json``, versioned with the code;
``AMBIENT_PRICES`` points at another copy (the Settings page edits that one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from llm.env import env_text

DEFAULT_PATH = Path(__file__).resolve().parent / "prices.json"
NANO = Decimal(1_000_000_000)
TIERS = ("embedded", "local", "cloud")


class PriceError(ValueError):
    """The price table is unusable; the message names the entry and what to fix."""


@dataclass(frozen=True)
class Price:
    input: Decimal  # USD per million input tokens
    output: Decimal  # USD per million output tokens
    checked: date

    def cost_nusd(self, prompt_tokens: int, completion_tokens: int) -> int:
        """Cost in nano-dollars: USD per million tokens is exactly 1,000 nano-USD per token."""
        nano = (self.input * prompt_tokens + self.output * completion_tokens) * 1000
        return int(nano.to_integral_value(ROUND_HALF_UP))


@dataclass(frozen=True)
class PriceTable:
    version: int
    reference_model: str
    models: dict[str, Price]
    tiers: dict[str, Price]
    note: str = ""

    def price(self, tier: str, model: str | None) -> Price:
        """The model's own price if listed, else the tier's rate."""
        if model and model in self.models:
            return self.models[model]
        return self.tiers[tier]

    def cost_nusd(self, tier: str, model: str | None, prompt: int, completion: int) -> int:
        return self.price(tier, model).cost_nusd(prompt, completion)

    def counterfactual_nusd(self, prompt: int, completion: int) -> int:
        """What the same tokens would have cost on the reference cloud model."""
        return self.models[self.reference_model].cost_nusd(prompt, completion)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "currency": "USD",
            "unit": "per 1M tokens",
            "reference_model": self.reference_model,
            "note": self.note,
            "models": {name: _entry(p) for name, p in self.models.items()},
            "tiers": {name: _entry(p) for name, p in self.tiers.items()},
        }


def _entry(p: Price) -> dict[str, Any]:
    return {"input": float(p.input), "output": float(p.output), "checked": p.checked.isoformat()}


def price_rows(table: PriceTable) -> list[dict[str, Any]]:
    """The models' prices as rows of an editable table (``with_model_rows`` reads them back)."""
    return [{"model": name, **_entry(p)} for name, p in table.models.items()]


def _blank(value: object) -> bool:
    """An empty cell: None, blank text, NaN, or pandas' NA and NaT (without importing it)."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and value != value


def with_model_rows(table: PriceTable, rows: Iterable[Mapping[str, Any]],
                    reference_model: str) -> PriceTable:
    """The next version of ``table``: its models as in ``rows`` (edited ``price_rows``; an
    empty row is skipped), priced against ``reference_model``, the tier rates kept.
    Raises ``PriceError`` naming the first entry that is not right."""
    models = {}
    for row in rows:
        if all(_blank(value) for value in row.values()):
            continue
        name = "" if _blank(row.get("model")) else str(row["model"]).strip()
        if not name:
            raise PriceError("A row of the price table has prices but no model name; name "
                             "the model or empty the row.")
        models[name] = {side: row.get(side) for side in ("input", "output", "checked")}
    return parse_prices(table.to_json() | {"version": table.version + 1,
                                           "reference_model": reference_model,
                                           "models": models})


def usd(nusd: int | None) -> Decimal:
    return Decimal(nusd or 0) / NANO


def format_usd(amount: Decimal | float | int | str | None) -> str:
    """Dollars as every screen and message shows them.

    Cents from $1 up ("$12.30", "$1,234.50"); below $1 up to four places, never fewer than
    cents ("$0.25", "$0.0015"); below a hundredth of a cent two significant digits
    ("$0.000012") rather than a misleading "$0.0000". Zero is "$0.00".
    """
    value = Decimal(str(amount or 0))
    size = abs(value)
    hundredths_of_cents = size.quantize(Decimal("0.0001"))
    if hundredths_of_cents >= 1 or size.quantize(Decimal("1e-9")) == 0:
        places = 2
    elif hundredths_of_cents > 0:
        places = 4
    else:
        places = min(-size.adjusted() + 1, 9)
    whole, _, fraction = f"{size:,.{places}f}".partition(".")
    fraction = fraction[:2] + fraction[2:].rstrip("0")
    if not value or Decimal(f"{whole.replace(',', '')}.{fraction}") == 0:
        return "$0.00"
    return f"{'-' if value < 0 else ''}${whole}.{fraction}"


def _price(where: str, raw: object) -> Price:
    if not isinstance(raw, dict):
        raise PriceError(f"{where} must be an object with input, output and checked.")
    values = {}
    for side in ("input", "output"):
        try:
            value = Decimal(str(raw[side]))
        except KeyError as exc:
            raise PriceError(f"{where} has no {side} price.") from exc
        except InvalidOperation as exc:
            raise PriceError(f"{where}: {side} price {raw[side]!r} is not a number.") from exc
        if not value.is_finite() or value < 0 or value > 10_000:
            raise PriceError(
                f"{where}: {side} price {raw[side]} must be between 0 and 10,000 USD per "
                "million tokens."
            )
        values[side] = value
    try:
        checked = date.fromisoformat(str(raw.get("checked", "")))
    except ValueError as exc:
        raise PriceError(f"{where}: 'checked' must be a date like 2026-01-31.") from exc
    return Price(values["input"], values["output"], checked)


def parse_prices(data: object) -> PriceTable:
    if not isinstance(data, dict):
        raise PriceError("The price table must be a JSON object.")
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise PriceError("The price table needs a 'models' object with at least one model.")
    parsed_models = {str(name): _price(f"Model {name}", raw) for name, raw in models.items()}
    tiers = data.get("tiers", {})
    if not isinstance(tiers, dict):
        raise PriceError("'tiers' must be an object of per-tier rates.")
    missing = [t for t in TIERS if t not in tiers]
    if missing:
        raise PriceError(f"The price table needs a rate for the {', '.join(missing)} tier(s).")
    parsed_tiers = {str(name): _price(f"Tier {name}", raw) for name, raw in tiers.items()}
    reference = data.get("reference_model")
    if reference not in parsed_models:
        raise PriceError(
            f"The reference model {reference!r} must be one of the listed models "
            f"({', '.join(parsed_models)})."
        )
    return PriceTable(
        version=int(data.get("version", 1)),
        reference_model=str(reference),
        models=parsed_models,
        tiers=parsed_tiers,
        note=str(data.get("note", "")),
    )


EDITED_PATH = Path(__file__).resolve().parent.parent / "data" / "prices.json"


def prices_path() -> Path:
    """``AMBIENT_PRICES`` if set, else the copy edited in Settings, else the shipped table."""
    configured = env_text("AMBIENT_PRICES")
    if configured:
        return Path(configured)
    return EDITED_PATH if EDITED_PATH.exists() else DEFAULT_PATH


def editable_path() -> Path:
    """Where the Settings page saves: never over the shipped table."""
    configured = env_text("AMBIENT_PRICES")
    return Path(configured) if configured else EDITED_PATH


def load_prices(path: Path | None = None) -> PriceTable:
    path = path or prices_path()
    try:
        return parse_prices(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise PriceError(f"The price table {path} could not be read ({exc}).") from exc
    except json.JSONDecodeError as exc:
        raise PriceError(f"The price table {path} is not valid JSON ({exc}).") from exc


def save_prices(table: PriceTable, path: Path | None = None) -> None:
    """Validate by round trip, then write atomically: a bad table never replaces a good one."""
    path = path or editable_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = table.to_json()
    parse_prices(json.loads(json.dumps(data)))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
