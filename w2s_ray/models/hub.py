"""A Hugging Face hub id (`Qwen/Qwen2.5-1.5B`) as a local directory, through the HF cache.

Every stage takes the same model string: vLLM could load an id itself, but training, checkpoint
provenance and the serve app need a directory, so ids resolve once, here, to the cached snapshot
(`HF_HUB_CACHE/models--org--name/snapshots/<commit>/`). Offline (HF_HUB_OFFLINE=1) only the cache
is read; online, the snapshot is downloaded into the cache first. On a cluster the cache must be on
storage every node reads (cluster/: HF_HOME on the shared volume), since workers get the path.
"""
from __future__ import annotations

import os
from pathlib import Path

# What a causal LM needs to load and tokenize: no duplicate .bin / .pth / original/ weights.
HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.jinja"]


class ModelNotFoundError(FileNotFoundError):
    """A model string that is no local model, built-in name or hub id in reach; names the string."""


def hub_cache_dir() -> Path:
    """HF's own precedence, read now rather than when huggingface_hub was imported, so a cache set by
    a Ray runtime_env or a test after import is the one used."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def hub_snapshot(repo_id: str, revision: str | None = None) -> Path:
    """The local snapshot directory of hub model `repo_id` (downloaded first when online)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, HfHubHTTPError, LocalEntryNotFoundError

    cache = hub_cache_dir()
    try:
        path = Path(snapshot_download(repo_id, revision=revision, cache_dir=cache, allow_patterns=HUB_FILES,
                                      local_files_only=offline()))
    except HFValidationError as err:
        raise ModelNotFoundError(f"model {repo_id!r}: not a local path, a .gguf file, a built-in model "
                                 f"or a valid hub id ({err})") from None
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as err:
        where = (f"offline (HF_HUB_OFFLINE=1), and the cache {cache} has no snapshot of it" if offline()
                 else f"the hub did not give it ({type(err).__name__}: {str(err).splitlines()[0]})")
        raise ModelNotFoundError(f"model {repo_id!r}: not a local path, a .gguf file or a built-in model, "
                                 f"and as a Hugging Face hub id: {where}") from None
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(f"model {repo_id!r}: the cached snapshot {path} has no config.json")
    return path


def hub_config_json(repo_id: str) -> Path:
    """The config.json of hub model `repo_id` from the HF cache or, online, that one file downloaded:
    never the weights (`w2s plan` reads model shapes with it)."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, "config.json", cache_dir=hub_cache_dir())
    if isinstance(cached, str):
        return Path(cached)
    if offline():
        raise ModelNotFoundError(f"{repo_id}: offline (HF_HUB_OFFLINE=1) and no config.json of it in the HF "
                                 f"cache {hub_cache_dir()}")
    try:
        return Path(hf_hub_download(repo_id, "config.json", cache_dir=hub_cache_dir()))
    except Exception as err:  # noqa: BLE001 - any hub failure means the file is out of reach
        raise ModelNotFoundError(f"{repo_id}: its config.json could not be fetched ({type(err).__name__}: "
                                 f"{str(err).splitlines()[0] if str(err) else ''})") from None
