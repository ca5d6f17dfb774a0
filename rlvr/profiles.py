"""Params profiles and overrides, written into `params.yaml` so that it (and `dvc.lock`) stay the record.

The embedded default is the typed defaults of `rlvr.config.Params`, which the committed `params.yaml`
spells out. A profile (`profiles/<name>.yaml`) lists only what differs from it, so `use_profile` sets
every key, whatever profile was active before. Overrides (`train.max_steps=3`) go through DVC's own
`--set-param` code, as `dvc exp run -S` applies them. Both keep the comments of `params.yaml`, and
both validate the result before the file changes: a bad profile or override leaves it as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from rlvr.config import Params, ParamsError, load_params, parse_params
from rlvr.errors import RlvrError

DEFAULT = "default"
PROFILES_DIR = "profiles"


def available(root: Path) -> list[str]:
    return [DEFAULT, *sorted(p.stem for p in (root / PROFILES_DIR).glob("*.yaml"))]


def merged(base: dict, overlay: dict) -> dict:
    """`overlay` deep-merged onto `base` (mappings merge, everything else replaces).

    >>> merged({"a": {"x": 1, "y": 2}, "b": [1]}, {"a": {"y": 3}, "b": [2]})
    {'a': {'x': 1, 'y': 3}, 'b': [2]}
    """
    out = dict(base)
    for key, value in overlay.items():
        out[key] = (
            merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def profile_values(root: Path, name: str) -> dict:
    """Every params value of profile `name`: the defaults with the profile's differences on top."""
    defaults = Params().model_dump(mode="json")
    if name == DEFAULT:
        return defaults
    path = root / PROFILES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ParamsError(f"no profile '{name}'; available: {', '.join(available(root))}")
    values = merged(defaults, yaml.safe_load(path.read_text()) or {})
    parse_params(values, str(path))
    return values


def checked(path: Path) -> Params:
    """The params at `path`, validated, reward names included (those are checked where the rewards are
    built, so that reading params never imports the verifier)."""
    from rlvr.rewards import build_rewards

    params = load_params(path)
    build_rewards(params.train.rewards, params.format)
    return params


def use_profile(root: Path, name: str, params_file: str = "params.yaml") -> Params:
    """Write profile `name` into `params.yaml`, keeping its comments."""
    from dvc.utils.collections import merge_dicts, remove_missing_keys
    from dvc.utils.serialize import modify_yaml

    values = profile_values(root, name)
    with modify_yaml(root / params_file) as data:
        merge_dicts(data, values)
        remove_missing_keys(data, values)
    return checked(root / params_file)


def apply_overrides(root: Path, overrides: Sequence[str], params_file: str = "params.yaml") -> Params:
    """Apply `key.path=value` overrides with DVC's `--set-param` code; an invalid result is undone."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import apply_overrides as dvc_apply_overrides

    path = root / params_file
    before = path.read_text()
    try:
        dvc_apply_overrides(path, list(overrides))
        return checked(path)
    except (InvalidArgumentError, RlvrError) as exc:
        path.write_text(before)
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ParamsError(
            f"overrides {list(overrides)} rejected, params.yaml unchanged: {exc}{cause}"
        ) from None
