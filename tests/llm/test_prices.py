from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from llm.prices import (
    PriceError,
    format_usd,
    load_prices,
    parse_prices,
    price_rows,
    save_prices,
    usd,
    with_model_rows,
)

GOOD = json.loads((Path(__file__).resolve().parents[2] / "llm" / "prices.json").read_text())


def test_the_shipped_table_loads_and_prices_to_the_nano_dollar() -> None:
    table = load_prices(Path(__file__).resolve().parents[2] / "llm" / "prices.json")
    assert table.cost_nusd("cloud", "gpt-4o-mini", 1_000_000, 0) == 150_000_000
    assert table.cost_nusd("embedded", "SmolLM2-135M-Instruct", 10**6, 10**6) == 0
    assert table.counterfactual_nusd(1_000_000, 1_000_000) == 750_000_000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["models"]["gpt-4o"].update(input=-1), "between 0 and 10,000"),
        (lambda d: d["models"]["gpt-4o"].update(output="cheap"), "is not a number"),
        (lambda d: d["models"]["gpt-4o"].update(checked="yesterday"), "must be a date"),
        (lambda d: d.update(reference_model="gpt-9"), "reference model"),
        (lambda d: d["tiers"].pop("local"), "local tier"),
        (lambda d: d.update(models={}), "at least one model"),
    ],
)
def test_an_invalid_price_is_refused_with_a_sentence(change, message: str) -> None:  # noqa: ANN001
    data = json.loads(json.dumps(GOOD))
    change(data)
    with pytest.raises(PriceError, match=message):
        parse_prices(data)


def test_saving_never_touches_the_shipped_table(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "prices.json"
    monkeypatch.setenv("AMBIENT_PRICES", str(target))
    table = parse_prices(GOOD)
    save_prices(table)
    assert load_prices().models["gpt-4o"].input == Decimal("2.5")
    assert target.exists()


@pytest.mark.parametrize(("amount", "shown"), [
    (Decimal(0), "$0.00"), (None, "$0.00"), (Decimal("1e-12"), "$0.00"),
    (Decimal("1.5"), "$1.50"), (Decimal("1234.567"), "$1,234.57"), (Decimal("-2"), "-$2.00"),
    (Decimal("0.25"), "$0.25"), (Decimal("0.1"), "$0.10"), (Decimal("0.0015"), "$0.0015"),
    (Decimal("0.012"), "$0.012"), (Decimal("0.99994"), "$0.9999"), (Decimal("0.99996"), "$1.00"),
    (Decimal("0.000012"), "$0.000012"), (Decimal("0.0000123"), "$0.000012"),
    (Decimal("-0.00001"), "-$0.00001"), (usd(1_500_000), "$0.0015"), (0.5, "$0.50"),
    ("0.0045", "$0.0045"), (10_000, "$10,000.00"),
])
def test_dollars_show_cents_and_enough_places_for_small_amounts(amount, shown: str) -> None:  # noqa: ANN001
    assert format_usd(amount) == shown


def test_a_tiny_cost_is_never_shown_as_zero() -> None:
    for nusd in (1, 7, 49, 999, 12_345, 99_999):
        shown = format_usd(usd(nusd))
        assert shown != "$0.00" and not shown.endswith("0000"), shown
        assert abs(Decimal(shown[1:]) - usd(nusd)) <= usd(nusd) / 10, (nusd, shown)


def test_the_price_rows_round_trip_and_an_edit_makes_the_next_version() -> None:
    table = parse_prices(GOOD)
    rows = price_rows(table)
    assert with_model_rows(table, rows, table.reference_model).models == table.models
    rows[0]["output"] = 99.5
    rows.append({"model": " new-model ", "input": 1, "output": 2, "checked": "2026-01-31"})
    rows.append({"model": None, "input": float("nan"), "output": None, "checked": ""})
    edited = with_model_rows(table, rows, "new-model")
    assert edited.version == table.version + 1 and edited.reference_model == "new-model"
    assert edited.models[rows[0]["model"]].output == Decimal("99.5")
    assert edited.models["new-model"].input == Decimal(1)
    assert edited.tiers == table.tiers and edited.note == table.note


@pytest.mark.parametrize(("row", "message"), [
    ({"model": "", "input": 1, "output": 2, "checked": "2026-01-31"}, "no model name"),
    ({"model": "m", "input": None, "output": 2, "checked": "2026-01-31"}, "is not a number"),
    ({"model": "m", "input": 1, "output": 2, "checked": None}, "must be a date"),
])
def test_an_edited_row_that_is_not_right_is_refused(row: dict, message: str) -> None:
    table = parse_prices(GOOD)
    with pytest.raises(PriceError, match=message):
        with_model_rows(table, [*price_rows(table), row], table.reference_model)
