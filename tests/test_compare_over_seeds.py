"""`w2s compare` over seed runs: per claim, the spread of the per-run differences and whether the
runs agree (issue 26: the spread over seeds, not one run, decides a finding)."""
from w2s_ray.eval.compare import findings_over_runs, render_findings_over_runs
from w2s_ray.eval.findings import finding


def _f(run, claim_id, diff, half=0.02, **extra):
    f = finding(claim_id, f"claim {claim_id}", {"diff": diff, "low": diff - half, "high": diff + half, "problems": 1000},
                **extra)
    return {"run": run, **f}


def test_the_spread_over_runs_gives_mean_range_and_agreement():
    findings = [_f("s0", "a", 0.10), _f("s1", "a", 0.05), _f("s2", "a", 0.03),  # all hold
                _f("s0", "b", 0.10), _f("s1", "b", -0.10), _f("s2", "b", 0.0),  # holds, reversed, neither
                _f("s0", "c", -0.30, unit="ratio"), _f("s1", "c", -0.20, unit="ratio"),
                {"run": "s2", **finding("c", "claim c", None, "not evaluated")}]
    over = {s["id"]: s for s in findings_over_runs(findings)}
    assert over["a"]["runs"] == 3 and over["a"]["held"] == 3 and over["a"]["verdict"] == "holds in every run"
    assert abs(over["a"]["mean_diff"] - 0.06) < 1e-12 and (over["a"]["min_diff"], over["a"]["max_diff"]) == (0.03, 0.10)
    assert (over["b"]["held"], over["b"]["reversed"], over["b"]["verdict"]) == (1, 1, "runs disagree")
    # a run that did not measure the claim is not counted as one that did
    assert over["c"]["runs"] == 2 and over["c"]["verdict"] == "reversed in every run"

    table = render_findings_over_runs(findings)
    assert "| a: claim a | 3 | +6.0 | +3.0 to +10.0 | 3 / 0 | holds in every run |" in table
    assert "| c: claim c | 2 | -0.25 | -0.30 to -0.20 | 0 / 2 | reversed in every run |" in table


def test_runs_where_the_claim_never_separates_say_so():
    findings = [_f(r, "d", d, half=0.05) for r, d in (("s0", 0.01), ("s1", -0.01))]
    (over,) = findings_over_runs(findings)
    assert over["verdict"] == "not distinguishable in every run" and over["held"] == over["reversed"] == 0


def test_seed_runs_of_one_config_are_labelled_by_their_run_directories(monkeypatch):
    import w2s_ray.eval.compare as compare

    names = {"runs/demo-seed0": "demo", "runs/demo-seed1": "demo", "runs/other": "other"}
    monkeypatch.setattr(compare, "compare_rows", lambda run_dir: [{"run": names[run_dir], "model": "m"}])
    labels = [r["run"] for r in compare._rows_labelled(list(names))]
    # the two seeds of "demo" apart by directory; a run whose name is its own keeps the config's name
    assert labels == ["demo-seed0", "demo-seed1", "other"]
