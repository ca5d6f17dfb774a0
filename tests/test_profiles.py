"""Profiles and overrides written into params.yaml: validated first, byte for byte, inside profiles/."""

from __future__ import annotations

import re
import shutil

import pytest

from rlvr.config.profiles import apply_overrides
from rlvr.config.schema import load_params


def test_shipped_profiles_validate_and_params_yaml_is_the_default():
    from rlvr.config.profiles import available, profile_values
    from rlvr.config.schema import Params
    from tests.conftest import ROOT

    assert load_params(ROOT / "params.yaml") == Params()
    names = available(ROOT)
    assert {"default", "tiny", "qwen3-4b"} <= set(names)
    for name in names:
        profile_values(ROOT, name)  # raises ParamsError when invalid


def test_profiles_round_trip_params_yaml_byte_for_byte(tmp_path):
    from rlvr.config.profiles import available, use_profile
    from tests.conftest import ROOT

    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    committed = (ROOT / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(committed)
    for name in available(ROOT):
        use_profile(tmp_path, name)
        use_profile(tmp_path, "default")
        assert (tmp_path / "params.yaml").read_text() == committed, name
    use_profile(tmp_path, "qwen3-4b")
    text = (tmp_path / "params.yaml").read_text()
    assert "  target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]\n" in text
    assert (
        '  cron: "0 3 * * *"\n' in text
        and "  min_p: 0.1               # e.g. 0.1 (Unsloth's notebook)" in text
    )
    assert "  revision: 906bfd4b4dc7f14ee4320094d8b41684abff8539\n" in text
    assert "  learning_rate: 0.000005     # LoRA" in text  # as written, not 5.0e-06; the comment kept


def test_an_override_changes_one_value_and_nothing_else(tmp_path):
    from tests.conftest import ROOT

    committed = (ROOT / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(committed)
    apply_overrides(tmp_path, ["train.max_steps=3", "data.hub.max_rows=500"])
    changed = [
        (a, b)
        for a, b in zip(
            committed.splitlines(), (tmp_path / "params.yaml").read_text().splitlines(), strict=True
        )
        if a != b
    ]
    assert changed == [("    max_rows: null", "    max_rows: 500"), ("  max_steps: 12", "  max_steps: 3")]


@pytest.mark.parametrize("name", ["../params", "../../etc/passwd", "tiny/../tiny", "/tmp/x", "nope"])
def test_profile_names_cannot_leave_the_profiles_folder(tmp_path, name):
    from rlvr.config.profiles import use_profile
    from rlvr.config.schema import ParamsError
    from tests.conftest import ROOT

    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    with pytest.raises(
        ParamsError,
        match=f"no profile '{re.escape(name)}'; available: default, qwen3-4b, reasoning-gym, tiny",
    ):
        use_profile(tmp_path, name)
    assert (tmp_path / "params.yaml").read_text() == (ROOT / "params.yaml").read_text()


def test_a_profile_with_a_yaml_error_is_one_line_not_a_traceback(tmp_path):
    from typer.testing import CliRunner

    from rlvr.cli import app
    from tests.conftest import ROOT

    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "broken.yaml").write_text("train:\n  max_steps: [1\n")
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    result = CliRunner().invoke(app, ["use-profile", "broken", "--root", str(tmp_path)])
    assert result.exit_code == 1 and "broken.yaml: not valid YAML" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert (tmp_path / "params.yaml").read_text() == (ROOT / "params.yaml").read_text()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.max_step=3", "train.max_step"),
        ("train.backend=tpu", "'auto', 'trl' or 'unsloth'"),
        ("+train.rewards.novelty=1.0", "unknown reward 'novelty'"),
        ("train.rewards.novelty=1.0", "Could not override 'train.rewards.novelty'"),
    ],
)
def test_bad_override_is_rejected_and_params_unchanged(tmp_path, override, message):
    from rlvr.config.schema import ParamsError
    from tests.conftest import ROOT

    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    with pytest.raises(ParamsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        apply_overrides(tmp_path, [override])
    assert (tmp_path / "params.yaml").read_text() == (ROOT / "params.yaml").read_text()
