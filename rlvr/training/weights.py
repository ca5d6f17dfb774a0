"""Checking a model or adapter folder before it is published or loaded: its config, its tokenizer, and
weights that are whole safetensors files, never pickles.

A folder with only `config.json`, or a `model.safetensors` cut short by a full disk or a kill, would load
as far as the first missing byte and fail there with a traceback, stages later. Here it is refused at
once, in one line that names the file: each safetensors file's header is read (8 bytes of length, then
JSON) and the file's size must be exactly what the header describes. A pickled checkpoint (`.bin`, `.pt`,
`.pkl`) is refused up front: loading one runs whatever code it holds.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from rlvr.contracts import AdapterConfig, ModelConfig
from rlvr.errors import RlvrError
from rlvr.files import read_json

CONFIG = "config.json"
ADAPTER_CONFIG = "adapter_config.json"
PICKLES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
TRAINING_ARGS = "training_args.bin"  # the Trainer's pickled arguments: never loaded with the weights
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
# The tokenizer's JSON files that transformers parses when it loads one: each must be whole.
TOKENIZER_JSON = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json")
MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the header's size


class BrokenWeights(RlvrError):
    """A model or adapter folder that is incomplete, cut short, or holds pickles."""


def safetensors_problem(path: Path) -> str | None:
    """What is wrong with a safetensors file (None: whole): too short for its header, a header that is not
    JSON, or a size other than the header describes.

    >>> import tempfile, struct
    >>> f = Path(tempfile.mkdtemp()) / "w.safetensors"
    >>> header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    >>> _ = f.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    >>> safetensors_problem(f) is None
    True
    >>> _ = f.write_bytes(struct.pack("<Q", len(header)) + header + bytes(5))
    >>> safetensors_problem(f)
    'w.safetensors holds 74 bytes where its header describes 77 (cut short?)'
    """
    size = path.stat().st_size
    if size < 8:
        return f"{path.name} holds {size} bytes, too few for a safetensors header"
    with path.open("rb") as f:
        length = int.from_bytes(f.read(8), "little")
        if length > min(size - 8, MAX_HEADER):
            return f"{path.name}: its header claims {length} bytes, the file holds {size} (cut short?)"
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return f"{path.name}: its header is not valid JSON (not a safetensors file?)"
    if not isinstance(header, dict):
        return f"{path.name}: its header is not a mapping of tensors (not a safetensors file?)"
    try:
        end = max(
            (spec["data_offsets"][1] for key, spec in header.items() if key != "__metadata__"), default=0
        )
    except (TypeError, KeyError, IndexError):
        return f"{path.name}: its header lacks the tensors' data offsets (not a safetensors file?)"
    if size != 8 + length + end:
        return f"{path.name} holds {size} bytes where its header describes {8 + length + end} (cut short?)"
    return None


def _weights_problem(folder: Path, pattern: str) -> str | None:
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLES and p.name != TRAINING_ARGS)
    if pickles:
        return (
            f"{', '.join(pickles)}: pickled weights, which rlvr never loads (loading one runs its code); "
            "save them as safetensors"
        )
    files = sorted(folder.glob(pattern))
    if not files:
        return f"no {pattern} file"
    return next((problem for f in files if (problem := safetensors_problem(f))), None)


def _json_problem(path: Path, contract: type[BaseModel] | None = None) -> str | None:
    """What is wrong with a JSON file of the folder (None: nothing), bounded and checked against its
    contract by `rlvr.files.read_json`: missing, cut short, or without a field the loader needs."""
    if not path.is_file():
        return f"no {path.name}"
    try:
        read_json(path, None, contract)
    except RlvrError as exc:  # "<path>: <what>; fix the file": the caller names the folder and the fix
        return f"{path.name}{str(exc).removeprefix(str(path)).rsplit('; ', 1)[0]}"
    return None


def model_problem(folder: Path) -> str | None:
    """What keeps a folder from being a whole transformers model (None: it is one): its config, a
    tokenizer, and whole safetensors weights."""
    folder = Path(folder)
    if not folder.is_dir():
        return "no such folder"
    if problem := _json_problem(folder / CONFIG, ModelConfig):
        return problem
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        return f"no tokenizer ({' or '.join(TOKENIZER_FILES)})"
    for name in TOKENIZER_JSON:
        if (folder / name).is_file() and (problem := _json_problem(folder / name)):
            return problem
    return _weights_problem(folder, "*.safetensors")


def adapter_problem(folder: Path) -> str | None:
    """What keeps a folder from being a whole LoRA adapter (None: it is one): its config and its
    safetensors weights."""
    folder = Path(folder)
    if not folder.is_dir():
        return "no such folder"
    return _json_problem(folder / ADAPTER_CONFIG, AdapterConfig) or _weights_problem(
        folder, "adapter_model*.safetensors"
    )


def check_model(folder: Path, what: str) -> None:
    """Refuse a folder that is not a whole model, in one line: `what` says what it is and how to fix it."""
    if problem := model_problem(folder):
        raise BrokenWeights(f"{folder}: {problem}; {what}")


def check_adapter(folder: Path, what: str) -> None:
    """Refuse a folder that is not a whole LoRA adapter, in one line (see `check_model`)."""
    if problem := adapter_problem(folder):
        raise BrokenWeights(f"{folder}: {problem}; {what}")
