"""Reading a params or profile file as strictly as DVC does: UTF-8, valid YAML, and no key twice.

PyYAML keeps the last of two equal keys without a word, so a file with two `train:` sections would pass
here while DVC refuses it (and a stage run by hand would take the defaults for every key of the first).
"""

from __future__ import annotations

from pathlib import Path

import yaml

# Bounds on what a params file may hold, each far above a real one and far below what would hang or crash
# the loader: PyYAML composes nesting by recursion (5,000 levels are a RecursionError), an alias is the
# node it names, so ten aliases of ten aliases of ... expand exponentially (the error message that prints
# the value would never end), and Python refuses integers of more than 4,300 digits with a ValueError.
MAX_DEPTH = 32
MAX_NODES = 100_000
MAX_DIGITS = 100


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader (plain data, never objects), refusing a mapping that repeats a key, a key
    that is not a plain value (`? [a, b]`), nesting deeper than MAX_DEPTH, aliases that expand past
    MAX_NODES values, and integers longer than MAX_DIGITS."""

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        sizes: dict[int, int] = {}

        def size(n: yaml.Node) -> int:  # values once every alias is expanded; each node counted once
            if id(n) not in sizes:
                sizes[id(n)] = MAX_NODES + 1  # until counted: an alias inside itself expands forever
                children = n.value if isinstance(n, yaml.SequenceNode) else ()
                if isinstance(n, yaml.MappingNode):
                    children = [child for pair in n.value for child in pair]
                sizes[id(n)] = min(MAX_NODES + 1, 1 + sum(size(child) for child in children))
            return sizes[id(n)]

        if size(node) > MAX_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"aliases expand to more than {MAX_NODES} values", node.start_mark
            )
        return node

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        if len(node.value) > MAX_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer of more than {MAX_DIGITS} digits", node.start_mark
            )
        return super().construct_yaml_int(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain value, not a list or a mapping", key_node.start_mark
                )
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


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _UniqueKeyLoader.construct_yaml_int)


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
    except yaml.YAMLError as exc:  # its message is built from `problem` alone: never a whole value
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise error(f"{path}: not valid YAML{where}: {problem}; fix the file") from None
