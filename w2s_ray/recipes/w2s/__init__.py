"""Parts of the weak-to-strong method that are not stages of every method: its baselines (weak,
strong base, gold ceiling, full weak FT) and its weak teachers (fine-tuned on the weak half's gold)."""
