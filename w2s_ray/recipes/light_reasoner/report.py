"""The light_reasoner recipe's part of report.json, from the manifest alone: LightReasoner and the
rejection-sampling SFT baseline side by side (METHODS.md section 2's headline is their cost).

  base            the expert before training: acc (greedy, test split)
  light_reasoner  acc, gain over base, problems sampled, tokens generated, tokens trained, tokens
  rs_sft          processed, wall seconds per stage and in all, gain per trained token
  comparison      LightReasoner's gain as a share of RS-SFT's, its trained tokens as a share of RS-SFT's
  findings        the paper's two efficiency claims (eval/findings.py): the gain, as a paired
                  difference over test problems, and the trained tokens, a count

Tokens trained are the tokens that carry a loss, times epochs: one per kept step for LightReasoner
(its KL is taken at the step's prefix's last position), every completion token plus the EOS TRL
appends for SFT. Tokens processed are every non-pad token the trainer fed the model (the trainer's
own count), prompts and prefixes included. Both methods share the expert's sampling stage: its
problems, tokens and seconds count for each. `seconds` sums sampling, contrast, selection and
training (the paper's "total time"); evaluation is listed per stage but not in it.
"""
from __future__ import annotations


from w2s_ray.eval.findings import finding, mean_interval, per_problem
from w2s_ray.eval.pgr_interval import correct_by_problem
from w2s_ray.recipes.light_reasoner import keys
from w2s_ray.run.manifest import Manifest
from w2s_ray.run.stage_io import read_output

SAMPLE, BASE = keys.SAMPLE, keys.BASE_EVAL
METHOD_STAGES = {"light_reasoner": (keys.CONTRAST, keys.SELECT, keys.TRAIN), "rs_sft": (keys.RS_SELECT, keys.RS_TRAIN)}
EVALS = {"light_reasoner": keys.EVAL, "rs_sft": keys.RS_EVAL}
# LightReasoner's claim, checked on every run: its gain >= 80 % of RS-SFT's with <= 10 % of its trained tokens.
GAIN_SHARE, TOKEN_SHARE = 0.8, 0.1


def _record(manifest: Manifest, key: str) -> dict | None:
    return manifest.record(key) if manifest.is_complete(key) else None


def _acc(manifest: Manifest, key: str) -> float | None:
    record = _record(manifest, key)
    return ((record or {}).get("metrics", {}).get("accuracy") or {}).get("acc")


def _rows(record: dict) -> list[dict]:
    return read_output(record["outputs"]["rows"])


def _tokens_trained(manifest: Manifest, method: str, train: dict) -> int | None:
    if method == "light_reasoner":
        return train["metrics"].get("supervised_tokens")
    sample = _record(manifest, SAMPLE)
    if sample is None or not train["rows_in"]:
        return None
    epochs = train["metrics"]["samples"] / train["rows_in"]
    # The rows RS-SFT kept are the right, non-empty samples (select/light_reasoner.rejection_sampling_sft).
    kept = [r for r in _rows(sample) if bool(r.get("correct") or False) and (r.get("text") or "").strip()]
    return int(round(sum(int(r["n_generated_tokens"]) + 1 for r in kept) * epochs))


def method_section(manifest: Manifest, method: str, base_acc: float | None) -> dict | None:
    sample, acc = _record(manifest, SAMPLE), _acc(manifest, EVALS[method])
    train = _record(manifest, METHOD_STAGES[method][-1])
    if sample is None or train is None:
        return None
    stage_seconds = {key: r["seconds"] for key in (SAMPLE, *METHOD_STAGES[method], EVALS[method])
                     if (r := _record(manifest, key)) is not None}
    tokens = _tokens_trained(manifest, method, train)
    gain = acc - base_acc if acc is not None and base_acc is not None else None
    return {
        "acc": acc, "gain": gain,
        "problems_sampled": len({r["problem_id"] for r in _rows(sample)}),
        "tokens_generated": sample["metrics"]["generate"]["generated_tokens"],
        "training_rows": train["rows_in"],
        "tokens_trained": tokens,
        "tokens_processed": train["metrics"].get("tokens"),
        "stage_seconds": stage_seconds,
        "seconds": sum(s for key, s in stage_seconds.items() if key != EVALS[method]),
        "gain_per_trained_token": gain / tokens if gain is not None and tokens else None,
    }


def light_reasoner_report(manifest: Manifest) -> dict:
    base_acc = _acc(manifest, BASE)
    lr, rs = (method_section(manifest, m, base_acc) for m in ("light_reasoner", "rs_sft"))
    comparison = None
    if lr and rs and None not in (lr["gain"], rs["gain"], lr["tokens_trained"], rs["tokens_trained"]):
        gain_share = lr["gain"] / rs["gain"] if rs["gain"] > 0 else None
        token_share = lr["tokens_trained"] / rs["tokens_trained"] if rs["tokens_trained"] else None
        comparison = {
            "gain_share": gain_share, "tokens_trained_share": token_share,
            "seconds_share": lr["seconds"] / rs["seconds"] if rs["seconds"] else None,
            # RS-SFT gaining nothing leaves no share to reach: the target is then not met.
            "meets_target": bool(gain_share is not None and token_share is not None
                                 and gain_share >= GAIN_SHARE and token_share <= TOKEN_SHARE),
        }
    return {"base": {"acc": base_acc}, "light_reasoner": lr, "rs_sft": rs, "comparison": comparison,
            "findings": findings(manifest, lr, rs)}


def findings(manifest: Manifest, lr: dict | None, rs: dict | None) -> list[dict]:
    """The paper's claims (METHODS.md 2, headline): LightReasoner reaches >= 80 % of RS-SFT's gain
    over the base expert with <= 10 % of its trained tokens."""
    base, lr_right, rs_right = (correct_by_problem(manifest, key) for key in (BASE, keys.EVAL, keys.RS_EVAL))
    # Per problem, LR_gain - 0.8 * RS_gain: its mean is the claim's margin, in accuracy points, and
    # one bootstrap draw of problems serves all three models (paired).
    margin = per_problem(lambda l, r, b: (l - b) - GAIN_SHARE * (r - b), lr_right, rs_right, base)
    missing = [name for name, m in (("base expert", base), ("LightReasoner", lr_right), ("RS-SFT", rs_right))
               if m is None]
    gain = finding(f"lightreasoner_gain>={GAIN_SHARE}_rs_sft",
                   f"LightReasoner's gain over the base expert is at least {GAIN_SHARE:.0%} of RS-SFT's "
                   f"(diff: LR gain - {GAIN_SHARE} x RS-SFT gain)",
                   mean_interval(margin) if margin else None,
                   why_not_run=f"not evaluated: {', '.join(missing)}" if missing else "no test problem in common")
    claim = (f"LightReasoner trains on at most {TOKEN_SHARE:.0%} of RS-SFT's trained tokens "
             f"(diff: {TOKEN_SHARE} - its share)")
    tokens = [(m or {}).get("tokens_trained") for m in (lr, rs)]
    if None in tokens or not tokens[1]:
        share = finding(f"lightreasoner_tokens<={TOKEN_SHARE}_rs_sft", claim, None, unit="ratio",
                        why_not_run="a method's training did not finish (or RS-SFT trained no token)")
        return [gain, share]
    diff = TOKEN_SHARE - tokens[0] / tokens[1]
    # A count of the tokens each training run carried a loss on, not a sample of test problems: the
    # interval is the point, and "at most" holds at equality.
    share = finding(f"lightreasoner_tokens<={TOKEN_SHARE}_rs_sft", claim,
                    {"diff": diff, "low": diff, "high": diff, "problems": 0}, unit="ratio",
                    tokens_trained={"light_reasoner": tokens[0], "rs_sft": tokens[1]},
                    note="a deterministic count of trained tokens: ci95 is the point")
    if diff == 0:
        share.update(holds=True, verdict="holds")
    return [gain, share]


def render_markdown(section: dict) -> str:
    lines = ["", "## LightReasoner vs rejection-sampling SFT", "",
             f"Base expert: {_pct(section['base']['acc'])} %.", "",
             "| method | acc % | gain (points) | problems | tokens generated | tokens trained | "
             "tokens processed | seconds | gain per 1k trained tokens |", "|---|---|---|---|---|---|---|---|---|"]
    for name in ("light_reasoner", "rs_sft"):
        m = section[name]
        if m is None:
            continue
        per_k = m["gain_per_trained_token"]
        lines.append(f"| {name} | {_pct(m['acc'])} | {_pct(m['gain'])} | {m['problems_sampled']} | "
                     f"{m['tokens_generated']} | {m['tokens_trained']} | {m['tokens_processed']} | "
                     f"{m['seconds']:.0f} | {'-' if per_k is None else f'{100 * 1000 * per_k:.3f}'} |")
    c = section.get("comparison")
    if c:
        lines += ["", f"LightReasoner's gain as a share of RS-SFT's: {_share(c['gain_share'])}; its trained tokens: "
                  f"{_share(c['tokens_trained_share'])}; its seconds: {_share(c['seconds_share'])}. "
                  f"Target (>= {GAIN_SHARE:.0%} of the gain with <= {TOKEN_SHARE:.0%} of the tokens) "
                  f"{'met' if c['meets_target'] else 'not met'}."]
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def build(manifest: Manifest, _common: dict) -> dict:
    return light_reasoner_report(manifest)


def markdown(report: dict) -> list[str]:
    return render_markdown(report).splitlines()
