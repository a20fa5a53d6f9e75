"""Differential test of LightReasoner against the authors' code, re-implemented line by line below
(never vendored): HKUDS/LightReasoner at commit fbd55c7dd105dde45f87c621006b03b7668fe279,
  LightR_sampling.py lines 93-147    the expert's greedy generate (expert_targets: its new tokens, the
                                      EOS it stopped on included; one distribution per token) and the
                                      amateur on each prefix; with score/contrast.py on the same
                                      made-up models: the step that emitted EOS is contrasted
  LightR_sampling.py lines 150-199   step selection (full-vocabulary KL with eps 1e-12, kl < beta
                                      dropped), V_t (expert_dist >= alpha * max) and the soft targets
                                      (softmax over V_t of log(P_E + eps) - log(P_A + eps)), from step 1
  LightR_finetuning.py lines 88-91, 131-145, 192-201   the dense labels and the loss at logits[:, -1]
  of a right-padded batch (pad_sequence), F.kl_div(..., reduction="batchmean").
The same synthetic distributions (peaked, flat, ties at the alpha bar, an amateur giving ~0) go through
ours: score/contrast.py's KL and V_t, recipes/light_reasoner/select.py's selection and targets, and
train/soft_label_worker.py's loss at both positions; outputs agree to 1e-6.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from w2s_ray.recipes.light_reasoner.config import LightReasonerConfig  # noqa: E402
from w2s_ray.recipes.light_reasoner.select import select_steps  # noqa: E402
from w2s_ray.score.contrast import contrast_kl, expert_mask  # noqa: E402
from w2s_ray.train.soft_label_worker import collate, soft_label_kl  # noqa: E402

ALPHA, BETA = 0.2, 0.4  # LightR_sampling.py lines 30-31


def _authors_select(expert_probs, amateur_probs_all, alpha=ALPHA, beta=BETA):
    """LightR_sampling.py lines 150-199: expert_probs[step] is the expert's distribution that predicts
    generated token `step`, amateur_probs_all[step - 1] the amateur's on the same prefix (their lines
    104-147 run the amateur on the prefixes of steps 1 .. L-1 only)."""
    out = []
    for step in range(1, len(expert_probs)):  # line 150
        expert_dist = expert_probs[step]
        amateur_dist = amateur_probs_all[step - 1]
        min_vocab_size = min(expert_dist.size(0), amateur_dist.size(0))
        expert_dist = expert_dist[:min_vocab_size]
        amateur_dist = amateur_dist[:min_vocab_size]
        plaus_thresh = alpha * torch.max(expert_dist)  # line 158
        mask = expert_dist >= plaus_thresh
        if not mask.any():
            continue
        epsilon = 1e-12  # lines 172-176
        P_E = expert_dist + epsilon
        P_A = amateur_dist + epsilon
        kl_div = F.kl_div(P_A.log(), P_E, reduction='sum').item()
        if kl_div < beta:  # line 178
            continue
        log_PE = torch.log(expert_dist + 1e-12)  # lines 181-185
        log_PA = torch.log(amateur_dist + 1e-12)
        cd_scores_full = log_PE - log_PA
        cd_scores_V = cd_scores_full[mask]
        weights = torch.softmax(cd_scores_V, dim=-1)
        token_ids = torch.arange(expert_dist.size(0), device=expert_dist.device)[mask].tolist()  # line 187
        out.append({"step": step, "token_ids": token_ids, "weights": weights.tolist(), "kl_divergence": kl_div})
    return out


def _authors_loss(logits, rows, vocab_size):
    """LightR_finetuning.py: labels (lines 88-91), the collate's right padding (lines 192-201, only
    the labels matter to the loss) and SoftLabelKLTrainer.compute_loss (lines 138-145)."""
    labels = []
    for row in rows:
        lab = torch.zeros(vocab_size, dtype=torch.float)
        for tid, weight in zip(row["target_ids"], row["target_probs"]):
            if tid < vocab_size:
                lab[tid] = weight
        labels.append(lab)
    soft_labels = torch.stack(labels).double()
    logits = logits[:, -1, :vocab_size]
    log_probs = F.log_softmax(logits, dim=-1)
    return F.kl_div(log_probs, soft_labels, reduction="batchmean").item()


def _distributions(kind: str, steps: int, vocab: int, rng: np.random.Generator) -> np.ndarray:
    """[steps, vocab] probabilities, float64."""
    if kind == "peaked":
        logits = rng.normal(size=(steps, vocab)) * 4.0
    elif kind == "flat":  # nearly uniform: V_t is most of the vocabulary, far past 64 tokens
        logits = rng.normal(size=(steps, vocab)) * 0.05
    elif kind == "ties":  # exact ties at the alpha bar: 0.5 and 0.1 = 0.2 * 0.5, twice
        p = np.full((steps, vocab), 0.3 / (vocab - 3))
        p[:, 0], p[:, 1], p[:, 2] = 0.5, 0.1, 0.1
        return p
    elif kind == "tiny_amateur":  # tokens the expert likes and the amateur gives < eps
        logits = rng.normal(size=(steps, vocab)) * 2.0
        logits[:, :3] = np.array([60.0, 59.0, 58.5]) + rng.normal(size=(steps, 1))
    else:
        raise ValueError(kind)
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def _ours_rows(pe: np.ndarray, pa: np.ndarray, lr: LightReasonerConfig, n_prompt: int = 4) -> dict:
    """One contrast row as score/contrast.py writes it, from the same distributions."""
    le, la = np.log(pe), np.log(pa)
    masks = [expert_mask(le[t], lr.alpha, lr.max_mask)[0] for t in range(len(le))]
    return {"problem_id": "p", "model": "expert", "sample_index": 0, "contrast_prompt_len": n_prompt,
            "contrast_ids": list(range(n_prompt + len(le))),
            "contrast_kl": contrast_kl(le, la, lr.epsilon).tolist(),
            "contrast_mask_ids": [m.tolist() for m in masks],
            "contrast_logp_expert": [le[t][m].tolist() for t, m in enumerate(masks)],
            "contrast_logp_amateur": [la[t][m].tolist() for t, m in enumerate(masks)]}


def _pair(kind_e: str, kind_a: str, seed: int, steps: int = 12, vocab: int = 300):
    rng = np.random.default_rng(seed)
    pe = _distributions(kind_e, steps, vocab, rng)
    pa = _distributions(kind_a, steps, vocab, rng)
    if kind_e == "tiny_amateur":  # the amateur gives the expert's favourites ~1e-20
        pa[:, :3] = 1e-20
        pa /= pa.sum(axis=1, keepdims=True)
    return pe, pa


CASES = [("peaked", "peaked", 0), ("peaked", "flat", 1), ("flat", "peaked", 2), ("flat", "flat", 3),
         ("ties", "peaked", 4), ("ties", "flat", 5), ("tiny_amateur", "peaked", 6), ("peaked", "peaked", 7)]


def _compare(pe, pa, lr):
    theirs = _authors_select([torch.tensor(p) for p in pe], [torch.tensor(p) for p in pa[1:]], lr.alpha, lr.beta)
    sel = select_steps([_ours_rows(pe, pa, lr)], lr.beta, lr.keep_fraction, lr.first_step, lr.epsilon)
    return theirs, sel


@pytest.mark.parametrize("kind_e,kind_a,seed", CASES)
def test_selection_and_targets_match_the_authors_on_the_same_distributions(kind_e, kind_a, seed):
    lr = LightReasonerConfig()  # the defaults are the authors'
    pe, pa = _pair(kind_e, kind_a, seed)
    theirs, sel = _compare(pe, pa, lr)
    assert [r["step"] for r in sel.rows] == [r["step"] for r in theirs]
    assert sel.n_in == len(pe) - 1  # the authors' steps 1 .. L-1
    for ours, their in zip(sel.rows, theirs):
        assert ours["kl"] == pytest.approx(their["kl_divergence"], abs=1e-6, rel=1e-9)
        got = dict(zip(ours["target_ids"], ours["target_probs"]))
        want = dict(zip(their["token_ids"], their["weights"]))
        assert set(got) == set(want)  # V_t, whole: no cap
        assert max(abs(got[a] - want[a]) for a in want) < 1e-6


def test_a_flat_expert_keeps_every_token_of_v_t_where_a_cap_of_64_moves_the_target():
    pe, pa = _pair("flat", "peaked", 2)
    theirs, _ = _compare(pe, pa, LightReasonerConfig(beta=0.0))
    assert min(len(r["token_ids"]) for r in theirs) > 64  # the authors' V_t is past a cap of 64
    capped = LightReasonerConfig(beta=0.0, max_mask=64)
    sel = select_steps([_ours_rows(pe, pa, capped)], 0.0, None, capped.first_step, capped.epsilon)
    moved = 0.0
    for ours, their in zip(sel.rows, theirs):
        want = dict(zip(their["token_ids"], their["weights"]))
        got = dict(zip(ours["target_ids"], ours["target_probs"]))
        moved = max(moved, max(abs(got.get(a, 0.0) - want[a]) for a in want))
    assert moved > 1e-3  # the cap renormalised the target over 64 of V_t's tokens
    _, exact = _compare(pe, pa, LightReasonerConfig(beta=0.0))
    for ours, their in zip(exact.rows, theirs):
        want = dict(zip(their["token_ids"], their["weights"]))
        got = dict(zip(ours["target_ids"], ours["target_probs"]))
        assert set(got) == set(want) and max(abs(got[a] - want[a]) for a in want) < 1e-6


def test_ties_at_the_alpha_bar_are_in_v_t_as_the_authors_test_them():
    pe, _ = _pair("ties", "peaked", 0)
    ids, cut = expert_mask(np.log(pe[0]), 0.2)
    assert sorted(ids.tolist()) == [0, 1, 2] and not cut  # 0.1 >= 0.2 * 0.5


def test_step_zero_is_not_a_candidate_by_default_and_is_with_ours():
    pe, pa = _pair("peaked", "peaked", 0)
    authors = select_steps([_ours_rows(pe, pa, LightReasonerConfig())], 0.0, None, 1, 1e-12)
    ours = select_steps([_ours_rows(pe, pa, LightReasonerConfig())], 0.0, None, 0, 1e-12)
    assert [r["step"] for r in authors.rows] == list(range(1, len(pe)))
    assert [r["step"] for r in ours.rows] == list(range(len(pe)))
    # step t trains at the position that predicts token t: its prefix is the prompt and t tokens
    assert [len(r["input_ids"]) for r in authors.rows] == [4 + t for t in range(1, len(pe))]


def test_the_exact_kl_differs_from_the_authors_only_where_the_amateur_gives_about_zero():
    pe, pa = _pair("tiny_amateur", "peaked", 6)
    le, la = np.log(pe), np.log(pa)
    theirs = [r["kl_divergence"] for r in _authors_select([torch.tensor(p) for p in pe],
                                                           [torch.tensor(p) for p in pa[1:]], beta=-1.0)]
    assert np.allclose(contrast_kl(le, la, 1e-12)[1:], theirs, atol=1e-6)
    assert np.all(contrast_kl(le, la, 0.0)[1:] > np.asarray(theirs) + 1.0)  # eps bounds log pi_A at log 1e-12
    pe2, pa2 = _pair("flat", "flat", 3)  # no probability near eps: the two agree
    assert np.allclose(contrast_kl(np.log(pe2), np.log(pa2), 0.0), contrast_kl(np.log(pe2), np.log(pa2), 1e-12),
                       atol=1e-6)


def _padded_batch(seed: int, vocab: int = 50):
    rng = np.random.default_rng(seed)
    lengths = [3, 7, 5, 7]
    rows = []
    for n in lengths:
        k = int(rng.integers(1, 6))
        ids = rng.choice(vocab, size=k, replace=False).tolist()
        probs = rng.dirichlet(np.ones(k)).tolist()
        rows.append({"input_ids": rng.integers(1, vocab, size=n).tolist(), "target_ids": ids, "target_probs": probs})
    batch = collate(pad_id=0)(rows)
    logits = torch.tensor(rng.normal(size=(len(rows), max(lengths), vocab)) * 3.0)
    return rows, batch, logits


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_loss_at_index_minus_1_is_the_authors_and_ours_reads_each_rows_last_token(seed):
    rows, batch, logits = _padded_batch(seed)
    args = (logits, batch["attention_mask"], batch["target_ids"], batch["target_probs"].double(),
            batch["target_mask"].double())
    theirs = _authors_loss(logits, rows, logits.shape[-1])
    assert soft_label_kl(*args, position="index_minus_1").item() == pytest.approx(theirs, abs=1e-6)
    # ours: the authors' loss on each row alone (no padding, so index -1 is its last token), averaged
    alone = np.mean([_authors_loss(logits[i: i + 1, : len(r["input_ids"])], [r], logits.shape[-1])
                     for i, r in enumerate(rows)])
    assert soft_label_kl(*args, position="last_non_pad").item() == pytest.approx(alone, abs=1e-6)
    assert abs(theirs - alone) > 1e-3  # the batch has rows shorter than its longest: the two differ


def test_the_config_names_the_loss_position_by_its_objective():
    base = LightReasonerConfig().kl_train_config
    from w2s_ray.train.config import TrainConfig

    assert base(TrainConfig()).objective == "soft_kl"
    assert LightReasonerConfig(loss_position="index_minus_1").kl_train_config(TrainConfig()).objective == \
        "soft_kl_index_minus_1"


# --- The step that emitted EOS (LightR_sampling.py lines 93-101 and 150) ------------------------
# Their expert_targets are generate's new tokens: transformers appends the EOS it stops on, and
# outputs.scores holds one distribution per generated token, so `range(1, len(expert_targets))`
# reaches the position that emitted EOS. Ours forces the text, which holds no EOS, and adds the
# token the engine recorded (stop_token_id) where eos_step is on (the default).

V, PAD, EOS = 24, 0, 1  # a character-level vocabulary: ids 2.. are the letters a..v


class _CharTokenizer:
    """Letters to ids and back, no special tokens: decode then encode is exact, as the authors'
    re-tokenized prefixes assume (their line 113, tokenizer.decode(expert_targets[:step]))."""

    pad_token_id = PAD

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [2 + ord(c) - ord("a") for c in text]}

    def decode(self, ids):
        return "".join(chr(ord("a") + i - 2) for i in ids)


class _PrefixLM:
    """A causal LM of fixed made-up logits per prefix: the same prefix gives the same logits in the
    step-by-step generate and in one teacher-forced pass. EOS is impossible before `stop_after`
    tokens of a solution and the most likely after, so the expert ends with EOS when that is below
    the cap; PAD is never likely."""

    def __init__(self, seed, n_prompt, stop_after, eos_bias):
        self.seed, self.n_prompt, self.stop_after, self.eos_bias = seed, n_prompt, stop_after, eos_bias

    def next_logits(self, prefix):
        rng = np.random.default_rng([self.seed, *prefix])
        logits = rng.normal(size=V) * 3.0
        logits[PAD] = -30.0
        logits[EOS] = logits.max() + self.eos_bias if len(prefix) - self.n_prompt >= self.stop_after else -30.0
        return torch.tensor(logits)

    def __call__(self, input_ids, attention_mask=None):
        rows = [[self.next_logits(ids[: p + 1].tolist()) for p in range(ids.shape[0])] for ids in input_ids]
        return type("Out", (), {"logits": torch.stack([torch.stack(r) for r in rows])})()


def _authors_generate(expert, prompt_ids, max_new_tokens):
    """LightR_sampling.py lines 93-101, greedy: expert_targets the new tokens of sequences[0], EOS
    included where generate stopped on it; expert_probs the softmax of each of outputs.scores."""
    seq, scores = list(prompt_ids), []
    for _ in range(max_new_tokens):
        scores.append(expert.next_logits(seq))
        seq.append(int(torch.argmax(scores[-1])))
        if seq[-1] == EOS:
            break
    return seq[len(prompt_ids):], [F.softmax(score, dim=-1) for score in scores]


def _authors_amateur(amateur, prompt_ids, expert_targets):
    """LightR_sampling.py lines 104-147: the amateur's next-token softmax on prompt + the decoded
    prefix expert_targets[:step], step 1 .. L-1 (the character tokenizer re-encodes it exactly)."""
    return [F.softmax(amateur.next_logits(list(prompt_ids) + expert_targets[:step]), dim=-1)
            for step in range(1, len(expert_targets))]


def _ours(expert, amateur, prompt, text, stop_token, lr):
    """score/contrast.py's ContrastScorer.__call__ on the same models (built without loading any)."""
    from w2s_ray.score.contrast import ContrastScorer

    scorer = object.__new__(ContrastScorer)
    scorer.alpha, scorer.max_mask, scorer.epsilon, scorer.micro_batch = lr.alpha, lr.max_mask, lr.epsilon, 4
    scorer.eos_step, scorer.device, scorer.tokenizer = lr.eos_step, "cpu", _CharTokenizer()
    scorer.models, scorer.n_vocab, scorer.max_len = [expert, amateur], V, 1 << 30
    batch = {"prompt": np.array([prompt], dtype=object), "text": np.array([text], dtype=object),
             "stop_token_id": np.array([stop_token])}
    out = scorer(batch)
    row = {"problem_id": "p", "model": "expert", "sample_index": 0, **{c: out[c][0] for c in out}}
    return row, select_steps([row], lr.beta, lr.keep_fraction, lr.first_step, lr.epsilon)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("stop_after,ends_with_eos", [(9, True), (40, False)])  # the cap is 16 tokens
def test_the_step_that_emitted_eos_is_contrasted_as_the_authors_do(seed, stop_after, ends_with_eos):
    prompt = "question"
    tok = _CharTokenizer()
    prompt_ids = tok(prompt)["input_ids"]
    expert = _PrefixLM(seed, len(prompt_ids), stop_after, eos_bias=0.5)
    amateur = _PrefixLM(seed + 100, len(prompt_ids), stop_after, eos_bias=-1.0)  # less sure it is done
    targets, expert_probs = _authors_generate(expert, prompt_ids, max_new_tokens=16)
    assert (targets[-1] == EOS) is ends_with_eos
    theirs = _authors_select(expert_probs, _authors_amateur(amateur, prompt_ids, targets), beta=0.0)
    # the engine's row: the text without EOS (special tokens dropped), and the token it ended on
    text = tok.decode([t for t in targets if t != EOS])
    stop_token = EOS if ends_with_eos else -1

    lr = LightReasonerConfig(beta=0.0)  # every candidate step kept: the steps themselves compared
    assert lr.eos_step is True  # the authors' default
    row, sel = _ours(expert, amateur, prompt, text, stop_token, lr)
    assert row["contrast_eos_step"] == int(ends_with_eos)
    assert [r["step"] for r in sel.rows] == [r["step"] for r in theirs] == list(range(1, len(targets)))
    assert sel.n_in == len(targets) - 1  # their steps 1 .. L-1, L counting the EOS
    for ours, their in zip(sel.rows, theirs):
        assert ours["kl"] == pytest.approx(their["kl_divergence"], abs=1e-5, rel=1e-5)
        got = dict(zip(ours["target_ids"], ours["target_probs"]))
        want = dict(zip(their["token_ids"], their["weights"]))
        assert set(got) == set(want) and max(abs(got[a] - want[a]) for a in want) < 1e-5
    if ends_with_eos:  # the EOS step trains on the whole text toward the contrast at its end
        last = sel.rows[-1]
        assert last["input_ids"] == prompt_ids + targets[:-1] and EOS in last["target_ids"]

    text_only = lr.model_copy(update={"eos_step": False})  # eos_step off: the text's tokens only
    row, sel = _ours(expert, amateur, prompt, text, stop_token, text_only)
    lost = 1 if ends_with_eos else 0  # at the cap there is no EOS step to lose
    assert row["contrast_eos_step"] == 0 and sel.n_in == len(targets) - 1 - lost
    assert [r["step"] for r in sel.rows] == [r["step"] for r in theirs][: len(theirs) - lost]
