"""The train stage on two gloo processes under `accelerate launch` (the CPU stand-in for several GPUs):
both ranks train, only the main one writes, and a run killed mid-training resumes from its checkpoint."""

from __future__ import annotations

import json
import subprocess
import time

import psutil
import pytest
import torch
from safetensors.torch import load_file

from rlvr.files import read_log
from tests.stages import ROOT, STAGE_ENV, run_stage, stage_command, stage_project, train_options


@pytest.mark.slow  # two minutes of three processes on 2 cores
def test_two_processes_train_write_once_and_resume_after_a_kill(tiny_model, tmp_path):
    # Markers are single tokens of the tiny vocabulary, so over 24 tokens some completions of a group
    # hold one and some do not: rlvr's own format reward then differs within groups, and weights move.
    project = stage_project(
        tmp_path,
        tiny_model,
        model={"name": str(tiny_model), "dtype": "float32"},
        train={
            "max_steps": 4,
            "save_steps": 1,
            "max_completion_length": 24,
            "learning_rate": 0.01,
            "rewards": {"match_format_approximately": 1.0},  # the reward that varies for a random model
        },  # fmt: skip
        distributed={"num_processes": 2},
    )
    options = train_options(project)
    process = subprocess.Popen(
        stage_command(project, "train", **options),
        cwd=ROOT,
        env=STAGE_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while not list((project / "ck").glob("grpo-*/checkpoint-2/trainer_state.json")):
        assert process.poll() is None and time.monotonic() < deadline, "training ended before checkpoint 2"
        time.sleep(0.2)
    # The launcher and both ranks, as a crash would (torchrun starts the ranks in sessions of their own).
    for victim in [*psutil.Process(process.pid).children(recursive=True), psutil.Process(process.pid)]:
        victim.kill()
    process.wait()
    assert not (project / "models" / "grpo").exists()

    output = run_stage(project, "train", **options)
    assert "accelerate launch: 2 processes" in output
    assert output.count("resuming from") == 2  # both ranks pick up the same checkpoint
    manifest = json.loads((project / "models" / "grpo" / "rlvr_adapter.json").read_text())
    assert manifest["steps"] == 4 and manifest["resumed_from_step"] >= 2
    log = read_log(project / "logs" / "grpo.json")
    assert [row["step"] for row in log] == [1, 2, 3, 4]  # once each: only rank 0 logs
    # Each step's group statistics cover both ranks' completions: 2 ranks x 4 completions, 2 groups.
    assert all(row["frac_reward_zero_std"] in (0.0, 0.5, 1.0) for row in log)
    assert any(row["frac_reward_zero_std"] < 1.0 for row in log)
    weights = load_file(project / "models" / "grpo" / "adapter_model.safetensors")
    assert any("lora_B" in k and torch.count_nonzero(v) for k, v in weights.items())  # B starts at zero
    assert not list((project / "ck").glob("grpo-*"))
    assert sorted(p.name for p in (project / "models").iterdir()) == ["grpo"]  # no rank wrote a copy
