"""A registered version on this machine: fetched whole, verified on use, never served stale."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rlvr.config.schema import LoraParams, Markers
from rlvr.errors import RlvrError
from rlvr.hashing import hash_path
from rlvr.mlops import store
from rlvr.mlops.registry import register
from rlvr.mlops.runs import experiment_id
from rlvr.serving.versions import ADAPTER, local_copy, read_mlmodel
from rlvr.training.models import load_trainable
from tests.conftest import ROOT


def make_adapter(tiny_model: Path, dest: Path, seed: int) -> Path:
    """A LoRA adapter on the tiny model with weights drawn from `seed` (two seeds, two adapters)."""
    model, _, peft_config = load_trainable(tiny_model, "float32", LoraParams(r=4, alpha=8), None, "trl", 64)
    from peft import get_peft_model

    model = get_peft_model(model, peft_config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "lora_" in name:
                weight.copy_(torch.randn(weight.shape, generator=generator) * 0.01)
    model.save_pretrained(dest)
    return dest


def register_adapter(adapter: Path, tiny_model: Path) -> int:
    client = store.client()
    run = client.create_run(experiment_id(client))
    return register(
        model_name="m",
        run_id=run.info.run_id,
        predictions=[],
        adapter=adapter,
        base_files={"base": tiny_model},
        model_config={
            "base_model": "tiny",
            "revision": None,
            "dtype": "float32",
            "markers": Markers().model_dump(),
            "max_new_tokens": 8,
        },
        tags={},
        description="test",
    ).version


@pytest.fixture
def registry_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("RLVR_CACHE", str(tmp_path / "cache"))
    return tmp_path


def adapter_in(copy: Path) -> Path:
    return Path(read_mlmodel(copy)[0][ADAPTER])


# Each step in a process of its own, as a user's commands run: registering, then `rlvr ask`'s fetch.
STEP = """
import sys
from pathlib import Path
from tests.test_versions import register_adapter
from rlvr.mlops import store
from rlvr.serving.versions import local_copy
if sys.argv[1] == "register":
    print(register_adapter(Path(sys.argv[2]), Path(sys.argv[3])))
else:
    print(local_copy(store.client(), "m", 1), local_copy(store.client(), "m", 1))
"""


def step(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", STEP, *args], capture_output=True, text=True, env=os.environ, cwd=Path.cwd()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_a_registry_recreated_at_the_same_path_is_never_served_from_the_old_cache(tiny_model, registry_here):
    first = make_adapter(tiny_model, registry_here / "a", seed=1)
    assert step("register", str(first), str(tiny_model)) == "1"
    copy, again = map(Path, step("copy").split())
    assert hash_path(adapter_in(copy)) == hash_path(first)
    assert again == copy  # reused while it is the same content

    (registry_here / "mlflow.db").unlink()  # a new registry at the same path: a new v1 of another training
    shutil.rmtree(registry_here / "mlruns", ignore_errors=True)
    second = make_adapter(tiny_model, registry_here / "b", seed=2)
    assert hash_path(second) != hash_path(first)
    assert step("register", str(second), str(tiny_model)) == "1"
    fresh = Path(step("copy").split()[0])
    assert fresh != copy and hash_path(adapter_in(fresh)) == hash_path(second)


def test_a_cached_copy_that_changed_is_fetched_again(tiny_model, registry_here, capsys):
    register_adapter(make_adapter(tiny_model, registry_here / "a", seed=1), tiny_model)
    copy = local_copy(store.client(), "m", 1)
    weights = adapter_in(copy) / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # a disk error, an editor, a half-finished copy
    again = local_copy(store.client(), "m", 1)
    assert "changed since it was fetched" in capsys.readouterr().out
    assert hash_path(adapter_in(again)) == hash_path(registry_here / "a")


def test_a_download_missing_its_adapter_is_never_cached_and_works_once_repaired(tiny_model, registry_here):
    register_adapter(make_adapter(tiny_model, registry_here / "a", seed=1), tiny_model)
    stored = next(p for p in registry_here.rglob("adapter_model.safetensors") if "cache" not in p.parts)
    saved = stored.read_bytes()
    stored.unlink()
    with pytest.raises(RlvrError) as error:
        local_copy(store.client(), "m", 1)
    assert "\n" not in str(error.value)
    assert not list((registry_here / "cache" / "registry").glob("*.json"))  # nothing cached as complete
    stored.write_bytes(saved)  # the registry repaired: no cache to delete by hand
    copy = local_copy(store.client(), "m", 1)
    assert hash_path(adapter_in(copy)) == hash_path(registry_here / "a")
