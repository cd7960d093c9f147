"""LLM providers and the client around them: structured output, retries, budgets, the ledger.

`registry.make_provider` picks a provider from a spec; `client.LLMClient` makes one structured
call with retries (server faults), re-asks (the model's mistakes), mode step-downs, budgets and a
ledger row per attempt. Nothing here imports a later stage.
"""
