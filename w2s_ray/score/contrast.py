"""contrast: expert-amateur contrast of one generated solution (LightReasoner, METHODS.md section 2).

For each row (the expert's `prompt` and its generated `text`) one teacher-forced forward pass of the
expert and one of the amateur over prompt + text give both next-token distributions at every step of
the solution; per step t (the position that predicts the solution's t-th token):

  contrast_kl           KL(pi_E || pi_A) over the whole vocabulary, one float per step
  contrast_mask_ids     V_t = {a : pi_E(a) >= alpha * max pi_E}, most likely first (every such token;
                        at most max_mask where one is set)
  contrast_logp_expert  log pi_E over V_t
  contrast_logp_amateur log pi_A over V_t
  contrast_ids          the token ids of prompt + text (+ the ending token, below) that were forced
                        (the training prefixes)
  contrast_prompt_len   how many of them are the prompt
  contrast_mask_cut     steps whose V_t was longer than max_mask (cut to its most likely tokens)
  contrast_eos_step     1 where the last step is the one that emitted EOS, else 0

The text holds no EOS (the engines drop special tokens). With `eos_step` (LightReasoner's authors'
default: they contrast every generated token, EOS included) a row whose generation ended on a token
(its `stop_token_id`, generate/finish.py; -1 or absent: none) has that token forced after the text, so
the position that emitted it is one step more; without, the steps are the text's tokens only.

With `epsilon` > 0 (the authors' 1e-12, LightReasoner's LightR_sampling.py) the KL is theirs:
sum_a (pi_E(a) + eps) * (log(pi_E(a) + eps) - log(pi_A(a) + eps)), which bounds what a token the
amateur gives ~0 can add; epsilon 0 is the exact KL of the two log-softmaxes.

Only V_t is kept, not the full-vocabulary rows: the selection (recipes/light_reasoner/select.py) needs
nothing else, and a step's V_t has a handful of tokens where the vocabulary has thousands.

The two models must share one tokenizer (the contrast compares distributions over the same ids);
a pair whose tokenizers differ is refused, naming both models, before any model is loaded.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from w2s_ray.score.base import Batch, Scorer, object_column, register, require_column


class TokenizerMismatchError(ValueError):
    """Expert and amateur tokenize differently: their distributions are over different ids."""


def tokenizer_fingerprint(tokenizer) -> dict:
    """What must be equal for two tokenizers to map text to the same ids."""
    return {"vocab": tokenizer.get_vocab(), "special": sorted(tokenizer.all_special_ids),
            "bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id,
            "probe": tokenizer("Ada has 12 apples. 12 + 7 = 19. #### 19")["input_ids"]}


def check_same_tokenizer(expert_path: str, amateur_path: str, expert_name: str | None = None,
                         amateur_name: str | None = None) -> None:
    """Raise TokenizerMismatchError naming both models unless their tokenizers agree."""
    from transformers import AutoTokenizer

    expert, amateur = (tokenizer_fingerprint(AutoTokenizer.from_pretrained(p)) for p in (expert_path, amateur_path))
    if expert == amateur:
        return
    differ = [k for k in expert if expert[k] != amateur[k]]
    detail = f"vocabulary {len(expert['vocab'])} vs {len(amateur['vocab'])} tokens" if "vocab" in differ else \
        f"{', '.join(differ)} differ"
    raise TokenizerMismatchError(
        f"expert {expert_name or expert_path!r} ({expert_path}) and amateur {amateur_name or amateur_path!r} "
        f"({amateur_path}) have different tokenizers ({detail}); the contrast compares next-token "
        f"distributions over the same token ids, so both models must share one tokenizer")


def expert_mask(logp_expert, alpha: float, max_mask: int | None = None) -> tuple[np.ndarray, bool]:
    """(ids of V_t, most likely first, at most max_mask if one is given; whether V_t was longer) for
    one step's expert log-probs. pi_E(a) >= alpha * max pi_E is tested on probabilities, as the
    authors do: in log space a tie at the bar (0.1 against 0.2 * 0.5) can round either way."""
    p = np.exp(np.asarray(logp_expert, dtype=np.float64))
    keep = np.flatnonzero(p >= alpha * p.max())
    order = keep[np.argsort(-p[keep], kind="stable")]
    if max_mask is None:
        return order, False
    return order[:max_mask], len(order) > max_mask


def contrast_kl(le: np.ndarray, la: np.ndarray, epsilon: float = 0.0) -> np.ndarray:
    """KL(pi_E || pi_A) per step from [steps, vocab] log-probs; epsilon as in the module docstring."""
    le, la = np.asarray(le, dtype=np.float64), np.asarray(la, dtype=np.float64)
    if epsilon <= 0:
        return np.sum(np.exp(le) * (le - la), axis=1)
    pe, pa = np.exp(le) + epsilon, np.exp(la) + epsilon
    return np.sum(pe * (np.log(pe) - np.log(pa)), axis=1)


@register("contrast")
class ContrastScorer(Scorer):
    columns = ("contrast_ids", "contrast_prompt_len", "contrast_kl", "contrast_mask_ids",
               "contrast_logp_expert", "contrast_logp_amateur", "contrast_mask_cut", "contrast_eos_step")
    int_columns = ("contrast_prompt_len", "contrast_mask_cut", "contrast_eos_step")
    num_cpus = 1.0
    num_gpus = 0.0

    def __init__(self, *, expert: str, amateur: str, expert_name: str | None = None,
                 amateur_name: str | None = None, alpha: float = 0.2, max_mask: int | None = None,
                 epsilon: float = 0.0, micro_batch: int = 16, device: str = "cpu", eos_step: bool = True):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        check_same_tokenizer(expert, amateur, expert_name, amateur_name)
        torch.set_num_threads(1)  # one thread per actor (platform notes: oversubscribed is ~35x slower)
        self.alpha, self.max_mask, self.epsilon, self.micro_batch = alpha, max_mask, epsilon, micro_batch
        self.eos_step = eos_step
        self.device = "cuda" if device == "gpu" else "cpu"
        self.tokenizer = AutoTokenizer.from_pretrained(expert)
        self.models = [AutoModelForCausalLM.from_pretrained(p, dtype=torch.float32).to(self.device).eval()
                       for p in (expert, amateur)]
        # A model may pad its output layer past the tokenizer; both are compared over the shared ids.
        self.n_vocab = min(len(self.tokenizer), *(m.config.vocab_size for m in self.models))
        self.max_len = min(getattr(m.config, "max_position_embeddings", 1 << 30) for m in self.models)

    def token_ids(self, prompt: str, text: str, stop_token: int | None = None) -> tuple[list[int], int, bool]:
        """prompt + text as the expert saw it: the prompt with the tokenizer's special tokens (as the
        engines tokenise prompts), the text without, so the prompt/solution boundary is exact; then,
        with eos_step, the token the generation ended on. Whether that token is in the ids (not cut
        by max_len) comes third."""
        prompt_ids = self.tokenizer(prompt)["input_ids"]
        text_ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        # generate/finish.py writes -1 where no token ended the text (a stop string, the length cap)
        end = [int(stop_token)] if self.eos_step and stop_token is not None and int(stop_token) >= 0 else []
        full = prompt_ids + text_ids + end
        ids = full[: self.max_len]
        return ids, len(prompt_ids), bool(end) and len(ids) == len(full)

    def log_probs(self, sequences: Sequence[list[int]], starts: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per sequence, (log pi_E, log pi_A) at its positions starts[i] .. len - 2 (those that predict a
        solution token), [steps, n_vocab] each: one right-padded forward pass per model, and the
        softmax only over the rows' own steps (a full [batch, length, vocabulary] of log-probs would
        be gigabytes for a hub model's vocabulary)."""
        import torch

        width = max(len(s) for s in sequences)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(sequences), width), pad, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for i, seq in enumerate(sequences):
            ids[i, : len(seq)] = torch.tensor(seq)
            mask[i, : len(seq)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        out = [[], []]
        with torch.no_grad():
            for which, model in enumerate(self.models):
                logits = model(input_ids=ids, attention_mask=mask).logits
                for i, seq in enumerate(sequences):
                    steps = logits[i, starts[i]: len(seq) - 1, : self.n_vocab].float()
                    out[which].append(torch.log_softmax(steps, -1).cpu().numpy())
                del logits
        return list(zip(*out))

    def __call__(self, batch: Batch) -> Batch:
        prompts = require_column(batch, "prompt", self.name)
        texts = require_column(batch, "text", self.name)
        # rows without a recorded stop token (an engine that does not record how a text ended): text only
        stop_tokens = batch["stop_token_id"] if "stop_token_id" in batch else [None] * len(texts)
        out = {c: [] for c in self.columns}
        encoded = [self.token_ids(str(p or ""), str(t or ""), s) for p, t, s in zip(prompts, texts, stop_tokens)]
        for start in range(0, len(encoded), self.micro_batch):
            chunk = encoded[start: start + self.micro_batch]
            starts = [max(n_prompt, 1) - 1 for _, n_prompt, _ in chunk]  # predicts the solution's first token
            for (ids, n_prompt, eos), (le, la) in zip(chunk, self.log_probs([ids for ids, _, _ in chunk], starts)):
                self._add_row(out, ids, n_prompt, le, la)
                out["contrast_eos_step"].append(int(eos))
        return {c: object_column(v) if c not in self.int_columns else np.array(v, dtype=np.int64)
                for c, v in out.items()}

    def _add_row(self, out: dict, ids: list[int], n_prompt: int, le: np.ndarray, la: np.ndarray) -> None:
        """le / la: [steps, vocab], step t being the position that predicts the solution's t-th token."""
        kl = contrast_kl(le, la, self.epsilon).astype(float).tolist()
        masks, cut = [], 0
        for t in range(len(le)):
            ids_t, was_cut = expert_mask(le[t], self.alpha, self.max_mask)
            masks.append(ids_t)
            cut += was_cut
        out["contrast_ids"].append([int(i) for i in ids])
        out["contrast_prompt_len"].append(n_prompt)
        out["contrast_kl"].append(kl)
        out["contrast_mask_ids"].append([m.tolist() for m in masks])
        out["contrast_logp_expert"].append([le[t][m].astype(float).tolist() for t, m in enumerate(masks)])
        out["contrast_logp_amateur"].append([la[t][m].astype(float).tolist() for t, m in enumerate(masks)])
        out["contrast_mask_cut"].append(cut)
