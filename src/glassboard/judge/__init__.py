"""Model-as-judge battles (auto-arena), judge audits, and prompt categories.

Depends on schema, models, store, rating and bench; never on arena or cli. `run` answers and judges through the
benchmark runner; `scores` turns judgments into win rates (raw, length-controlled, style-controlled); `audits`
measures the judge's own biases; `categories` tags battles with LMArena-style prompt categories.
"""
