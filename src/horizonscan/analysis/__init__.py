"""Analysis stage: one structured LLM call per article, then the evidence check."""
