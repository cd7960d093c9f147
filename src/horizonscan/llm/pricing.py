"""Estimated cost per call from a per-model price table (USD per million tokens).

Prices change; users override or extend them in `horizonscan.toml` under `[prices]`:
`"openai:gpt-4o-mini" = { input = 0.15, output = 0.60 }`. Unknown hosted models cost 0 and are
reported as unpriced by `horizonscan usage`, so a missing price never hides silently.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

# OpenAI's Batch API and Anthropic's Message Batches both bill every token at half the price of
# the ordinary endpoint (input and output alike), in exchange for answers within 24 h.
BATCH_DISCOUNT = 0.5


class Price(BaseModel):
    input: float
    output: float


DEFAULT_PRICES: dict[str, Price] = {
    "openai:gpt-4o-mini": Price(input=0.15, output=0.60),
    "openai:gpt-4o": Price(input=2.50, output=10.00),
    "openai:gpt-4.1-mini": Price(input=0.40, output=1.60),
    "openai:gpt-4.1-nano": Price(input=0.10, output=0.40),
    "openai:gpt-4.1": Price(input=2.00, output=8.00),
    "openai:gpt-5-mini": Price(input=0.25, output=2.00),
    "openai:gpt-5-nano": Price(input=0.05, output=0.40),
    "anthropic:claude-haiku-4-5": Price(input=1.00, output=5.00),
    "anthropic:claude-sonnet-4-5": Price(input=3.00, output=15.00),
    "anthropic:claude-3-5-haiku-latest": Price(input=0.80, output=4.00),
}


class PriceTable:
    def __init__(self, overrides: Mapping[str, Mapping[str, float]] | None = None) -> None:
        self._prices = dict(DEFAULT_PRICES)
        for key, value in (overrides or {}).items():
            self._prices[key] = Price.model_validate(dict(value))

    def price(self, spec: str) -> Price | None:
        """Exact `provider:model`, then the longest known prefix (dated model versions)."""
        if spec.startswith("local"):
            return Price(input=0.0, output=0.0)
        if spec in self._prices:
            return self._prices[spec]
        best = max((k for k in self._prices if spec.startswith(k)), key=len, default=None)
        return self._prices[best] if best else None

    def cost(self, spec: str, input_tokens: int, output_tokens: int) -> float:
        p = self.price(spec)
        if p is None:
            return 0.0
        return (input_tokens * p.input + output_tokens * p.output) / 1_000_000

    def batch_cost(self, spec: str, input_tokens: int, output_tokens: int) -> float:
        """The same tokens sent through the provider's batch API: `BATCH_DISCOUNT` of the price."""
        return self.cost(spec, input_tokens, output_tokens) * BATCH_DISCOUNT
