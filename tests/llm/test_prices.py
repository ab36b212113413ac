from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from llm.prices import PriceError, load_prices, parse_prices, save_prices

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
