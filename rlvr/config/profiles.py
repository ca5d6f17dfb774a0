"""Params profiles and overrides, written into `params.yaml` so that it (and `dvc.lock`) stay the record.

The embedded default is the typed defaults of `rlvr.config.schema.Params`, which the committed `params.yaml`
spells out. A profile (`profiles/<name>.yaml`) lists only what differs from it, so `use_profile` sets
every key, whatever profile was active before. Overrides (`train.max_steps=3`) are read with DVC's own
`--set-param` code, as `dvc exp run -S` reads them. Both rewrite only the values that change
(`rlvr.config.yamledit`): comments, inline lists, `null` and quotes stay as written, and going back to a
profile gives back its file byte for byte. Both validate the result before the file changes: a bad profile or
override leaves it as it was.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from rlvr.config.schema import Params, ParamsError, parse_params
from rlvr.config.yamledit import same, set_values
from rlvr.config.yamlfile import parse_yaml, read_yaml
from rlvr.errors import RlvrError
from rlvr.files import replacing, write_text
from rlvr.locks import params_lock

DEFAULT = "default"
PROFILES_DIR = "profiles"
PARAMS_FILE = "params.yaml"


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
    """Every params value of profile `name`: the defaults with the profile's differences on top.

    Only the names `available` lists are profiles, so a name cannot reach outside `profiles/`."""
    defaults = Params().model_dump()  # python mode keeps `0` an int, as params.yaml writes it
    if name == DEFAULT:
        return defaults
    names = available(root)
    if name not in names:
        raise ParamsError(f"no profile '{name}'; available: {', '.join(names)}")
    path = root / PROFILES_DIR / f"{name}.yaml"
    overlay = read_yaml(path, ParamsError) or {}
    if not isinstance(overlay, dict):
        raise ParamsError(f"{path}: a profile is a mapping of params sections, got {type(overlay).__name__}")
    values = merged(defaults, overlay)
    parse_params(values, str(path))
    return values


def differences(before: dict, after: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    """The leaves that differ, as (dotted key, before, after); a missing side is None.

    >>> differences({"train": {"max_steps": 10, "seed": 0}}, {"train": {"max_steps": 3, "seed": 0}})
    [('train.max_steps', 10, 3)]
    """
    out: list[tuple[str, object, object]] = []
    for key in [*before, *(k for k in after if k not in before)]:
        a, b = before.get(key), after.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif not same(a, b):
            out.append((f"{prefix}{key}", a, b))
    return out


def closest_profile(root: Path, values: dict) -> str:
    """The profile these params are, or the nearest one and how many values differ from it (`tiny+2`)."""
    scored = []
    for name in available(root):
        try:
            scored.append((len(differences(profile_values(root, name), values)), name))
        except ParamsError:
            continue
    count, name = min(scored, key=lambda s: s[0])
    return name if count == 0 else f"{name}+{count}"


def _write_values(path: Path, values: dict, what: str) -> Params:
    """Write `values` into the params file in place, after validating the result, holding the params
    lock (never under a running stage)."""
    with params_lock(path.parent):
        text = path.read_text(encoding="utf-8")
        try:
            new = set_values(text, values)
            params = parse_params(parse_yaml(new), path.name)
        except (ValueError, yaml.YAMLError, RlvrError) as exc:
            raise ParamsError(f"{what} rejected, {path.name} unchanged: {exc}") from None
        write_text(path, new)
    return params


def use_profile(root: Path, name: str, params_file: str = PARAMS_FILE) -> Params:
    """Write profile `name` into `params.yaml`, changing only the values that differ."""
    return _write_values(root / params_file, profile_values(root, name), f"profile '{name}'")


def override_values(path: Path, overrides: Sequence[str]) -> dict:
    """The params values after `overrides`, read the way `dvc exp run -S` reads them (Hydra's grammar:
    `key=value`, `+key=value` adds, `~key` removes); the file itself is not touched."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import apply_overrides as dvc_apply_overrides

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / path.name
        scratch.write_text(path.read_text())
        try:
            dvc_apply_overrides(scratch, list(overrides))
        except InvalidArgumentError as exc:
            cause = f": {exc.__cause__}" if exc.__cause__ else ""
            raise ParamsError(
                f"overrides {list(overrides)} rejected, {path.name} unchanged: {exc}{cause}"
            ) from None
        return read_yaml(scratch, ParamsError)


def apply_overrides(root: Path, overrides: Sequence[str], params_file: str = PARAMS_FILE) -> Params:
    """Apply `key.path=value` overrides to `params.yaml` in place; an invalid result changes nothing."""
    path = root / params_file
    return _write_values(path, override_values(path, overrides), f"overrides {list(overrides)}")


@dataclass(frozen=True)
class ParamsChange:
    """What a pipeline run wrote into params.yaml before it started, and whether it stays there."""

    profile: str | None
    overrides: tuple[str, ...]
    changed: tuple[tuple[str, object, object], ...]
    persist: bool

    def describe(self) -> str:
        """One paragraph for the run's report.

        >>> change = ParamsChange(None, ("train.max_steps=3",), (("train.max_steps", 10, 3),), False)
        >>> change.describe().split(", for this run only: ")
        ['Overrides `train.max_steps=3` (train.max_steps: 10 -> 3)', 'params.yaml was restored afterwards.']
        """
        if not self.profile and not self.overrides:
            return "No profile or overrides: the run used params.yaml as committed."
        what = " and ".join(
            part
            for part in (
                f"profile `{self.profile}`" if self.profile else "",
                f"overrides {', '.join(f'`{o}`' for o in self.overrides)}" if self.overrides else "",
            )
            if part
        )
        diff = "; ".join(f"{key}: {a} -> {b}" for key, a, b in self.changed) or "no value changed"
        kept = (
            "kept in params.yaml: later runs, the scheduled ones included, use them too."
            if self.persist
            else "for this run only: params.yaml was restored afterwards."
        )
        return f"{what[0].upper()}{what[1:]} ({diff}), {kept}"


@contextmanager
def params_for_run(
    root: Path, profile: str | None, overrides: Sequence[str], persist: bool, params_file: str = PARAMS_FILE
) -> Iterator[ParamsChange]:
    """Write a profile and overrides into params.yaml for one pipeline run. Unless `persist`, the file's
    exact bytes come back when the run ends (failed or not), so a one-off override never carries over
    to the next scheduled run unnoticed."""
    path = root / params_file
    original = path.read_bytes()
    before = read_yaml(path, ParamsError)
    try:
        if profile:
            use_profile(root, profile, params_file)
        if overrides:
            apply_overrides(root, overrides, params_file)
        change = ParamsChange(
            profile,
            tuple(overrides),
            tuple(differences(before, read_yaml(path, ParamsError))),
            persist,
        )
        yield change
    finally:
        if not persist and path.read_bytes() != original:
            with params_lock(root):
                with replacing(path) as tmp:
                    tmp.write_bytes(original)
