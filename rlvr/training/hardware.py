"""What this machine can do, and the `auto` choices in params resolved against it.

Machines differ in ways that change the right setting by an order of magnitude: bf16 on a CPU without
native bf16 instructions (AVX2 only) runs many times slower than fp32, while a CPU with avx512_bf16 or AMX
runs it a little faster (docs/benchmarks.md); Unsloth and vLLM need a CUDA GPU and their packages. So
`auto` is decided here, from what the machine reports, never assumed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rlvr.errors import RlvrError

# CPU flags (as /proc/cpuinfo names them) that give native bf16 matrix arithmetic.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


class BackendUnavailable(RlvrError):
    """A backend or generation engine asked for in params cannot run on this machine."""


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags, read from /proc/cpuinfo (empty where there is none, e.g. macOS).

    >>> sorted(cpu_flags("processor : 0\\nflags : fpu avx2 avx512_bf16\\n"))
    ['avx2', 'avx512_bf16', 'fpu']
    """
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.is_file() else ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def speed_flags(cpuinfo: str | None = None) -> str:
    """The CPU flags that decide a CPU run's dtype and speed, for a benchmark's record of its machine.

    >>> speed_flags("flags : fpu avx2 sse4_2 avx512f avx512_bf16\\n")
    'avx2 avx512_bf16 avx512f'
    >>> speed_flags("")
    'none of avx2, avx512f, avx512_bf16, amx'
    """
    wanted = {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}
    return " ".join(sorted(cpu_flags(cpuinfo) & wanted)) or "none of avx2, avx512f, avx512_bf16, amx"


def resolve_dtype(requested: str, cuda: bool | None = None, flags: frozenset[str] | None = None) -> str:
    """`auto`: bfloat16 on a CUDA GPU that supports it and on a CPU with native bf16, float32 elsewhere.

    >>> resolve_dtype("auto", cuda=False, flags=frozenset({"avx2"}))
    'float32'
    >>> resolve_dtype("auto", cuda=False, flags=frozenset({"avx2", "amx_bf16"}))
    'bfloat16'
    >>> resolve_dtype("float16", cuda=False, flags=frozenset())
    'float16'
    """
    if requested != "auto":
        return requested
    if cuda if cuda is not None else cuda_available():
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "bfloat16" if NATIVE_BF16_FLAGS & (flags if flags is not None else cpu_flags()) else "float32"


def resolve_optim(requested: str, cuda: bool | None = None, bnb: bool | None = None) -> str:
    """The optimizer to train with: the one params name, but a bitsandbytes optimizer (8-bit AdamW,
    paged ones: Unsloth's notebook uses `adamw_8bit`) becomes `adamw_torch` where bitsandbytes cannot run
    (no CUDA GPU, or the package missing), as `model.dtype: auto` adapts the dtype: the same update with
    32-bit states, which only costs memory. The caller says so in its output.

    >>> resolve_optim("adamw_8bit", cuda=False, bnb=False), resolve_optim("adamw_8bit", cuda=True, bnb=True)
    ('adamw_torch', 'adamw_8bit')
    >>> resolve_optim("adamw_torch", cuda=False, bnb=False)
    'adamw_torch'
    """
    needs_bnb = "8bit" in requested or "bnb" in requested or requested.startswith("paged_")
    if not needs_bnb:
        return requested
    cuda = cuda_available() if cuda is None else cuda
    bnb = installed("bitsandbytes") if bnb is None else bnb
    return requested if cuda and bnb else "adamw_torch"


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def select_backend(requested: str) -> str:
    """`auto` means Unsloth where a CUDA GPU and the unsloth package are both present, TRL+PEFT elsewhere."""
    unsloth_ready = cuda_available() and installed("unsloth")
    if requested == "auto":
        return "unsloth" if unsloth_ready else "trl"
    if requested == "unsloth" and not unsloth_ready:
        raise BackendUnavailable(
            "train.backend is 'unsloth', which needs a CUDA GPU and `pip install -e .[gpu]`; "
            "set train.backend to 'auto' or 'trl' to train with TRL+PEFT here"
        )
    return requested


def select_generation(requested: str, backend: str, sharded: bool = False) -> str:
    """How GRPO samples completions (and evaluation decodes): `vllm`, `compiled`, `merged`,
    `continuous_batching` or `generate`.

    `auto` takes vLLM where it is installed on a CUDA GPU (through Unsloth's `fast_inference` engine on the
    Unsloth backend, TRL's colocated engine on TRL+PEFT). On a GPU without it: on TRL+PEFT, sampling from a
    merged copy of the policy into a static cache, its decode step compiled into CUDA graphs (a small model
    decodes at the pace of kernel launches), unless the training is `sharded` (ZeRO-3, FSDP: the merged copy
    would copy shards), then TRL's `generate`; on Unsloth its own decoding. On a CPU, plain `generate`:
    there decoding is bound by arithmetic, and the merged copy measured no faster. docs/benchmarks.md has
    the measurements.
    """
    cuda = cuda_available()
    if requested == "auto":
        if cuda and installed("vllm"):
            return "vllm"
        return "compiled" if cuda and backend == "trl" and not sharded else "generate"
    if requested == "vllm" and not (cuda and installed("vllm")):
        raise BackendUnavailable(
            "train.generation is 'vllm', which needs a CUDA GPU and `pip install vllm`; "
            "set train.generation to 'auto' to use the fastest engine this machine has"
        )
    if requested in ("merged", "compiled", "continuous_batching") and backend == "unsloth":
        raise BackendUnavailable(
            f"train.generation '{requested}' is a TRL+PEFT engine; with train.backend 'unsloth' use "
            "'generate' (Unsloth's fast decoding), 'vllm' or 'auto'"
        )
    return requested


def resolve_shared_prefix(requested: bool | str, cuda: bool | None = None) -> bool:
    """`auto`: the shared prefix (`rlvr.training.shared_prefix`) on for CPU training, where its saving was
    measured, and off on a GPU, where its dense mask and single forward outside TRL's micro-batches cost
    memory that grows with the square of the sequence.

    >>> resolve_shared_prefix("auto", cuda=False), resolve_shared_prefix("auto", cuda=True)
    (True, False)
    >>> resolve_shared_prefix(False, cuda=False)
    False
    """
    if requested != "auto":
        return requested
    return not (cuda_available() if cuda is None else cuda)
