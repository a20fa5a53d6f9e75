"""Typed run configuration (loading.py reads it from YAML). Defaults live here and nowhere else.

Errors name the field: pydantic reports the path (`teachers.1.temperature`), and `load_config`
prefixes the file name. Unknown keys are errors too (a typo must not silently fall back to a default).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, create_model, field_validator, model_validator

from w2s_ray.config.base import NOT_HASHED, Added, Strict as _Strict, hash_exclude, repeated
from w2s_ray.recipes.base import all_recipe_configs, recipe_config, recipe_names
from w2s_ray.score.stage import ScorerSpec, as_specs
from w2s_ray.text.answers import DEFAULT_MARKERS, check_markers
from w2s_ray.train.config import TrainConfig

_BLANK_LINE = re.compile(r"\n[ \t]*\n")  # what text/steps.py splits paragraph steps at




class RayConfig(_Strict):
    address: Annotated[str | None, NOT_HASHED] = None  # None: RAY_ADDRESS, else an embedded Ray on 127.0.0.1
    num_cpus: int | None = Field(default=None, ge=1)  # embedded Ray only
    device: Literal["auto", "cpu", "gpu"] = "auto"  # auto: GPU when the cluster has one
    # One GPU's memory, for `w2s plan`'s memory estimates (`--cluster gpu_memory_gib=N` overrides it).
    gpu_memory_gib: Annotated[float, NOT_HASHED] = Field(default=80.0, gt=0)
    # Whether the cluster adds nodes on demand. Then a stage asks the autoscaler for its pools' actors
    # and waits up to autoscale_wait_s for them before sizing its pools from what is free (otherwise
    # a pool is cut to the nodes already up, and nothing ever asks for more). auto: what the autoscaler
    # reported to Ray (a node group that may grow: KubeRay's enableInTreeAutoscaling, `ray up`).
    autoscaling: Annotated[Literal["auto"] | bool, NOT_HASHED] = "auto"
    autoscale_wait_s: Annotated[float, NOT_HASHED] = Field(default=600.0, ge=0)
    # files: workers' and engines' output stays in Ray's log files (copied into RUN_DIR/logs/ray at each
    # stage's end), the console gets the stages' lines and progress; console: everything, as Ray prints it.
    worker_logs: Literal["files", "console"] = "files"
    # A long stage's progress line on the driver's output (rows or steps done, rate, loss, ETA): at
    # most this often, plus one at each tenth done and one at the end.
    progress_seconds: Annotated[float, NOT_HASHED] = Field(default=30.0, gt=0)
    # CPU kernels every process of the run computes with (run/kernels.py): native, each library's
    # pick for this CPU; avx2 / portable, the same rounding on every x86-64 CPU that has AVX2 / any,
    # so a build or training gives the same weights on another kind of CPU. Not vLLM's own kernels.
    cpu_kernels: Annotated[Literal["native", "avx2", "portable"], Added("native")] = "native"

    @property
    def log_to_driver(self) -> bool:
        """What init_ray's log_to_driver is under worker_logs."""
        return self.worker_logs == "console"


class DataConfig(_Strict):
    """Where problems come from.

    source "world": the seeded demo world, split into weak_train / strong_train / test.
    source "files": `train` (JSONL or parquet path, or hf:NAME) is split in two halves by content hash
    (weak_train keeps gold, strong_train gets questions only) and `test` is the test set.
    """

    source: Literal["world", "files"] = "world"
    train: str | None = None
    test: str | None = None
    format: Literal["auto", "gsm8k", "math", "w2s", "sciq", "esnli"] = "auto"
    quarantine_dir: str | None = None  # bad input lines go here, counted, instead of failing
    seed: int = 0
    n_weak_train: int = Field(default=20000, ge=1)
    n_strong_train: int = Field(default=1000, ge=1)
    n_test_per_level: int = Field(default=100, ge=1)
    n_demos: int = Field(default=64, ge=1)  # few-shot demonstration pool, from weak_train gold

    @model_validator(mode="after")
    def _files_need_paths(self):
        if self.source == "files":
            missing = [f for f in ("train", "test") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"source 'files' needs {' and '.join(missing)}")
        return self


def checked_scorers(specs: list[ScorerSpec]) -> list[ScorerSpec]:
    """Unknown names and clashing columns now, not after the first generation stage."""
    try:
        as_specs(specs)
    except KeyError as err:  # UnknownScorerError: pydantic reports only ValueErrors as field errors
        raise ValueError(str(err)) from None
    return specs


class TeacherConfig(_Strict):
    """One model that generates: a weak teacher or the strong model itself."""

    name: str
    model: str  # local HF dir, .gguf file, or a built-in name (see w2s_ray.models.load)
    role: Literal["weak", "strong"] = "weak"
    shots: int = Field(default=0, ge=0)  # k worked examples before the question; 0 = zero-shot
    n: int = Field(default=1, ge=1)  # samples per problem
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(default=96, ge=1)
    seed: int = 0
    stop: list[str] = Field(default_factory=lambda: ["\n\n", "Question:"])
    engine: Literal["auto", "vllm", "hf"] = "auto"  # auto: vLLM when installed
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_model_len: int = Field(default=2048, ge=64)
    # auto: eager on CPU. torch.compile costs ~50 s per engine start there and a CPU run starts an
    # engine per stage; SmolLM2-135M generated no slower eager (bench/generate_throughput.py).
    enforce_eager: Literal["auto"] | bool = "auto"
    # vLLM: the fewest rows of one engine call (a stage sends each engine its share in as few calls as
    # fit, generate/engine_pool.py), and on CPU the engine's max_num_seqs (at most 64).
    batch_size: int = Field(default=64, ge=1)
    concurrency: int = Field(default=1, ge=1)  # engine replicas (each a Ray actor holding a vllm.LLM)
    # vLLM only. GPUs per replica: one placement-group bundle per tensor-parallel rank.
    tensor_parallel_size: Annotated[int, Added(1)] = Field(default=1, ge=1)
    # None: vLLM's default
    gpu_memory_utilization: Annotated[float | None, Added(None)] = Field(default=None, gt=0.0, le=1.0)
    # None: vLLM's default (CPU: min(batch_size, 64))
    max_num_seqs: Annotated[int | None, Added(None)] = Field(default=None, ge=1)
    # Any other vLLM engine argument (EngineArgs), passed as is: e.g. {enable_prefix_caching: true}.
    engine_kwargs: Annotated[dict[str, Any], Added({})] = Field(default_factory=dict)
    # Weak teachers only: fine-tune `model` on the weak half's gold solutions first (METHODS.md 1).
    sft_on_weak_half: bool = False
    # The scorers of the stages this model generates in (its eval stages use `eval.scorers`);
    # None: the run's `scorers`. A step checker or a reward model need not run on every stage.
    scorers: Annotated[list[ScorerSpec] | None, Added(None)] = None

    @field_validator("scorers")
    @classmethod
    def _known_scorers(cls, specs):
        return None if specs is None else checked_scorers(specs)

    @field_validator("engine_kwargs")
    @classmethod
    def _typed_fields_not_twice(cls, kwargs):
        typed = {"tensor_parallel_size", "gpu_memory_utilization", "max_num_seqs", "max_model_len", "dtype",
                 "seed", "enforce_eager"}
        twice = sorted(typed & set(kwargs))
        if twice:
            raise ValueError(f"set {twice} as the teacher's own field(s), not in engine_kwargs")
        pp = kwargs.get("pipeline_parallel_size", 1)
        if isinstance(pp, bool) or not isinstance(pp, int) or pp < 1:
            raise ValueError(f"engine_kwargs.pipeline_parallel_size must be a whole number >= 1, got {pp!r}")
        return kwargs

    def eager(self, device: str) -> bool:
        return device == "cpu" if self.enforce_eager == "auto" else self.enforce_eager

    @property
    def pipeline_parallel_size(self) -> int:
        """vLLM's pipeline_parallel_size (an `engine_kwargs` entry; 1 without one)."""
        return int(self.engine_kwargs.get("pipeline_parallel_size", 1))

    @property
    def engine_gpus(self) -> int:
        """GPUs one vLLM engine of this model holds: tensor x pipeline parallel ranks, one GPU each."""
        return self.tensor_parallel_size * self.pipeline_parallel_size


BASELINES = ("weak", "strong_base", "ceiling", "full_weak_ft")


class EvalConfig(_Strict):
    """Greedy evaluation on the test split; the strong base is also evaluated k-shot."""

    strong_base_shots: int = Field(default=3, ge=0)
    max_tokens: int = Field(default=96, ge=1)
    # The scorers of every evaluation stage; None: the run's `scorers`. Accuracy needs a `correct`
    # column, so one of them must give it (answer_check does).
    scorers: Annotated[list[ScorerSpec] | None, Added(None)] = None

    @field_validator("scorers")
    @classmethod
    def _known_scorers(cls, specs):
        if specs is None:
            return None
        specs = checked_scorers(specs)
        if not any("correct" in spec.scorer_class().columns for spec in specs):
            raise ValueError(f"eval.scorers {[s.name for s in specs]}: none gives the `correct` column accuracy "
                             f"is computed from; add answer_check")
        return specs


class LoopConfig(_Strict):
    rounds: int = Field(default=2, ge=0)
    selection: Literal["consistency", "take_all"] = "consistency"
    # base: every round fine-tunes the original strong model on that round's selection (the
    # paper's progressive refinement regenerates data with the improved student, not the weights);
    # previous: continue from the last round's student.
    train_from: Literal["base", "previous"] = "base"
    # Weak-to-Strong Reasoning's round k > 1 (recipes/w2s_reasoning): whose zero-shot answers the
    # round's selection reads. "student" (authors' default, GAIR-NLP/weak-to-strong-reasoning's
    # released iter2 data): the round-(k-1) student answers zero-shot, so the kept set can grow past
    # what the weak teacher got right; "weak_teacher" (ours): the weak teachers' round-0 answers,
    # re-filtered every round. Round 1 always reads the weak teachers.
    weak_side: Literal["student", "weak_teacher"] = "student"
    # The strong model's in-context demos (strong.shots of them: weak outputs, right or wrong).
    # "fixed" (authors' default, their src/prompt/demonstrations.py get_few_shot_prompts): one set,
    # the first that state an answer after a shuffle seeded by demo_seed, shown for every question;
    # "per_problem" (ours): drawn per problem from every weak output.
    demos: Literal["fixed", "per_problem"] = "fixed"
    demo_seed: int = 42  # the authors' random.seed(42); the drawn set is recorded in the manifest
    baselines: list[Literal["weak", "strong_base", "ceiling", "full_weak_ft"]] = Field(
        default_factory=lambda: list(BASELINES))


class ServeConfig(_Strict):
    """`w2s serve` / `w2s run --serve`: the OpenAI-compatible app for the run's latest student.

    Not part of the config hash: how a run is served does not change what it computes.
    """

    host: str = "127.0.0.1"  # anything else exposes the model; refused without an API key
    port: int = Field(default=8000, ge=0, le=65535)  # 0: a free port
    # The bearer token is read from this environment variable (unset or empty: no auth). Never the
    # token itself here: the config is copied into manifest.json.
    api_key_env: str = "W2S_SERVE_API_KEY"
    max_request_bytes: int = Field(default=1 << 20, ge=1024)  # larger bodies: 413
    # Work one request may ask for; beyond: 400. One client must not take every core.
    max_n: int = Field(default=8, ge=1)  # completions per prompt (`n`, `best_of`)
    max_tokens: int = Field(default=1024, ge=1)  # `max_tokens` / `max_completion_tokens`
    max_prompts: int = Field(default=16, ge=1)  # prompts in one completions request
    max_concurrent: int = Field(default=8, ge=1)  # requests in flight per client (address + token); beyond: 429
    max_model_len: int | None = Field(default=None, ge=16)  # prompt + completion tokens; None: the model's own
    num_cpus: float = Field(default=0.5, gt=0)  # Ray CPUs per model replica (two live during a swap)
    # Model replicas (vLLM engines) behind the one ingress; Serve spreads requests over them. A swap
    # starts the new round's replicas before the old ones stop, so it briefly holds twice as many.
    replicas: int = Field(default=1, ge=1)
    poll_seconds: float = Field(default=2.0, gt=0)  # how often the server looks for a new promotion


class _CommonConfig(_Strict):
    """The sections every recipe shares; RunConfig adds each recipe folder's own (recipes/base.py)."""

    name: str = "run"
    recipe: str = "w2s_reasoning"  # a folder of w2s_ray/recipes/ (or a registered Recipe)
    run_dir: Annotated[str, NOT_HASHED] = "runs/run"
    # built/converted models; None: $W2S_CACHE, else the checkout's .cache/w2s
    cache_dir: Annotated[str | None, NOT_HASHED] = None
    ray: RayConfig = Field(default_factory=RayConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    # Weak teachers, greedy zero-shot by default; w2s_reasoning needs one, easy_to_hard none.
    weak: list[TeacherConfig] = Field(default_factory=list)
    strong: TeacherConfig  # the strong base model and how it generates on strong_train (k-shot)
    scorers: list[ScorerSpec] = Field(
        default_factory=lambda: [ScorerSpec(name="answer_check"), ScorerSpec(name="step_check")]
    )
    # Literal phrases that introduce a final answer in a generation ("^" = at a line's start); the
    # generate stage's `answer` column is read with them. See w2s_ray.text.answers.
    answer_markers: Annotated[list[str], Added(list(DEFAULT_MARKERS))] = Field(
        default_factory=lambda: list(DEFAULT_MARKERS))
    eval: EvalConfig = Field(default_factory=EvalConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    serve: Annotated[ServeConfig, NOT_HASHED] = Field(default_factory=ServeConfig)

    @field_validator("recipe")
    @classmethod
    def _known_recipe(cls, name):
        if name not in recipe_names():
            raise ValueError(f"unknown recipe {name!r}; known: {', '.join(recipe_names())}")
        return name

    @field_validator("scorers")
    @classmethod
    def _known_scorers(cls, specs):
        return checked_scorers(specs)

    @field_validator("answer_markers")
    @classmethod
    def _markers(cls, markers):
        return list(check_markers(markers))

    @field_validator("weak")
    @classmethod
    def _unique_names(cls, teachers):
        dupes = repeated([t.name for t in teachers])
        if dupes:
            raise ValueError(f"teacher names must be unique; repeated: {dupes}")
        return teachers

    @model_validator(mode="after")
    def _sections_of_this_recipe(self):
        own = recipe_config(self.recipe)
        for recipe, part in all_recipe_configs().items():
            for section in part.sections:
                if section not in own.sections and getattr(self, section, None) is not None:
                    raise ValueError(f"section {section!r} belongs to recipe {recipe!r}; this config's "
                                     f"recipe is {self.recipe!r}")
        if own.check is not None:
            own.check(self)
        return self

    @model_validator(mode="after")
    def _roles(self):
        for t in self.weak:
            t.role = "weak"
        self.strong.role = "strong"
        if self.strong.sft_on_weak_half:
            raise ValueError("strong.sft_on_weak_half: only weak teachers train on the weak half's gold")
        if self.strong.name in {t.name for t in self.weak}:
            raise ValueError(f"strong.name {self.strong.name!r} is also a weak teacher's name")
        return self

    @model_validator(mode="after")
    def _stops_keep_paragraph_steps(self):
        """With paragraph steps (`step_sep: blank_line`), a stop string that matches a blank line ends
        every sample at its first step, before any answer: refuse the pair rather than score it."""
        teachers = [("strong", self.strong), *((f"weak.{i}", t) for i, t in enumerate(self.weak))]
        scorer_lists = [("scorers", self.scorers), ("eval.scorers", self.eval.scorers),
                        *((f"{name}.scorers", t.scorers) for name, t in teachers)]
        where = [f"{prefix}.{i}" for prefix, specs in scorer_lists for i, s in enumerate(specs or ())
                 if s.config.get("step_sep") == "blank_line"]
        where += [f"{section}.step_sep" for part in all_recipe_configs().values() for section in part.sections
                  if getattr(getattr(self, section, None), "step_sep", None) == "blank_line"]
        for name, teacher in teachers if where else ():
            cutting = [s for s in teacher.stop if _BLANK_LINE.search(s)]
            if cutting:
                raise ValueError(f"{name}.stop {cutting!r} ends a sample at its first blank line, but {where[0]} "
                                 f"splits steps at blank lines: every sample would keep one step and no answer; "
                                 f"drop it from {name}.stop (e.g. stop: [\"Question:\"])")
        return self

    def config_hash(self) -> str:
        """What the run computes, not where: a run directory moved or resumed elsewhere keeps it
        (fields marked NOT_HASHED or at their `Added` value are left out: config/base.hash_exclude)."""
        content = self.model_dump(mode="json", exclude=hash_exclude(self))
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]

    def resolved_cache_dir(self) -> Path:
        from w2s_ray.config.base import default_cache_dir

        return Path(self.cache_dir) if self.cache_dir else default_cache_dir()


def _with_recipe_sections() -> type[_CommonConfig]:
    """RunConfig: the common sections and every recipe folder's own, each optional (None: unset)."""
    fields = {}
    for name, part in all_recipe_configs().items():
        for section, model in part.sections.items():
            if section in fields or section in _CommonConfig.model_fields:
                raise TypeError(f"recipe {name!r}: config section {section!r} is taken")
            # Unset, a section hashes as absent (a recipe's section is added after configs of other
            # recipes were hashed), or as null where the recipe says its records hold it so.
            kind = model | None if section in part.hashed_unset else Annotated[model | None, Added(None)]
            fields[section] = (kind, Field(default=None, description=(
                f"recipe {name}'s own section (recipes/{name}/config.py); only the configured recipe's may be set")))
    return create_model("RunConfig", __base__=_CommonConfig, __module__=__name__, **fields)


RunConfig = _with_recipe_sections()
