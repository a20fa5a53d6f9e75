"""Problem sources mapped onto one schema: schema (Problem, InputError), world (the synthetic
arithmetic world), splits (dedup + disjoint hash splits), formats (GSM8K/MATH/own-schema records),
loaders (JSONL files and Hugging Face datasets, with quarantine), jsonl (line-accounted IO)."""
