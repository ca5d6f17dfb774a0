"""Reading a params or profile file as strictly as DVC does: UTF-8, valid YAML, and no key twice.

PyYAML keeps the last of two equal keys without a word, so a file with two `train:` sections would pass
here while DVC refuses it (and a stage run by hand would take the defaults for every key of the first).
"""

from __future__ import annotations

from pathlib import Path

import yaml


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader (plain data, never objects), refusing a mapping that repeats a key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} appears twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def parse_yaml(text: str) -> object:
    """The data of a YAML text; a repeated key is an error.

    >>> parse_yaml("train: {max_steps: 3}")
    {'train': {'max_steps': 3}}
    >>> parse_yaml("train: {}\\ntrain: {}")
    Traceback (most recent call last):
    ...
    yaml.constructor.ConstructorError: key 'train' appears twice (lines 1 and 2)
      in "<unicode string>", line 2, column 1:
        train: {}
        ^
    """
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass: plain data only


def read_yaml(path: Path, error: type[Exception]) -> object:
    """The data of a YAML file; `error` (one line: the file, where, what) when it is not UTF-8, not YAML,
    or repeats a key."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{path}: not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None
    try:
        return parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise error(f"{path}: not valid YAML{where}: {problem}; fix the file") from None
