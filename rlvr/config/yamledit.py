"""Changing values in a YAML file's text in place. Pure: text in, text out.

`params.yaml` is written by hand: comments, inline lists, `null`, quoted cron strings, aligned columns.
A YAML library that loads and dumps the file restyles all of it; here only the characters of the values
that change are rewritten, so every other byte stays as it was, and setting a value back restores the
original text. A key that is new is added as a line at the end of its mapping, a key that is gone loses
its lines.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


def same(a: object, b: object) -> bool:
    """Equal as params values: `10 == 10.0`, but a bool is never a number.

    >>> same(10, 10.0), same(True, 1), same([1, None], [1.0, None])
    (True, False, True)
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    numbers = isinstance(a, int | float) and isinstance(b, int | float)
    return (type(a) is type(b) or numbers) and a == b


def render(value: object, style: str | None = None, flow: bool = False) -> str:
    """`value` as YAML text in the file's style: `null`, floats in positional notation (`0.00001`), lists
    and mappings inline, strings plain where that reads back the same, else in the original quotes.

    >>> [render(v) for v in (None, True, 3, 1e-05, 0.1, 2.0, "Qwen/Qwen3-4B-Base", "0 3 * * *", "a: b")]
    ['null', 'true', '3', '0.00001', '0.1', '2.0', 'Qwen/Qwen3-4B-Base', '0 3 * * *', '"a: b"']
    >>> render("0 4 * * *", style='"'), render(["q_proj", "v_proj"]), render({"accuracy": 1.0})
    ('"0 4 * * *"', '[q_proj, v_proj]', '{accuracy: 1.0}')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = format(Decimal(repr(value)), "f")
        return text if "." in text else f"{text}.0"
    if isinstance(value, list):
        return "[" + ", ".join(render(item, flow=True) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{render(str(k), flow=True)}: {render(v, flow=True)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    text = str(value)
    if style == "'":
        return "'" + text.replace("'", "''") + "'"
    if style != '"' and _plain_reads_back(text, flow):
        return text
    return json.dumps(text, ensure_ascii=False)


def _plain_reads_back(text: str, flow: bool) -> bool:
    if not text or text != text.strip() or "\n" in text or (flow and any(c in text for c in ",[]{}")):
        return False
    try:
        return yaml.safe_load(f"k: [{text}]" if flow else f"k: {text}") == {"k": [text] if flow else text}
    except yaml.YAMLError:
        return False


def set_values(text: str, values: dict) -> str:
    """`text` (a YAML mapping) with its values changed to `values`, rewriting only what differs.

    >>> text = "a: 1   # one\\nb: [x, y]\\nc:\\n  d: null\\n"
    >>> print(set_values(text, {"a": 2, "b": ["x", "y"], "c": {"d": 5}}))
    a: 2   # one
    b: [x, y]
    c:
      d: 5
    <BLANKLINE>
    """
    root = yaml.compose(text)
    if not isinstance(root, MappingNode):
        raise ValueError("the YAML document is not a mapping")
    edits: list[tuple[int, int, str]] = []
    _edit_mapping(text, root, yaml.safe_load(text), values, edits)
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _edit_mapping(text: str, node: MappingNode, current: dict, target: dict, edits: list) -> None:
    if node.flow_style:  # an inline mapping is rewritten whole
        if not same(current, target):
            edits.append((node.start_mark.index, node.end_mark.index, render(target)))
        return
    for key_node, value_node in node.value:
        key = key_node.value
        if key not in target:
            edits.append((_line_start(text, key_node.start_mark.index), _entry_end(text, value_node), ""))
        elif isinstance(value_node, MappingNode) and isinstance(target[key], dict):
            _edit_mapping(text, value_node, current[key], target[key], edits)
        elif _block(value_node, SequenceNode) and isinstance(target[key], list) and target[key]:
            _edit_sequence(text, value_node, current[key], target[key], edits)
        elif not same(current[key], target[key]):
            edits.append(_replace(text, key_node, value_node, target[key]))
    new = [key for key in target if key not in current]
    if new:
        indent = " " * node.value[0][0].start_mark.column
        lines = "".join(f"{indent}{render(str(k))}: {render(target[k])}\n" for k in new)
        at = _entry_end(text, node.value[-1][1])
        edits.append((at, at, lines if text[at - 1 : at] == "\n" or at == 0 else "\n" + lines))


def _edit_sequence(text: str, node: SequenceNode, current: list, target: list, edits: list) -> None:
    """A block list edited item by item: items that differ are rewritten, extra items are added as lines
    after the last one in its style, and missing items lose their lines (so a longer list set back to
    the shorter one restores the text)."""
    for item, was, wanted in zip(node.value, current, target, strict=False):
        if _block(item, MappingNode) and isinstance(wanted, dict):
            _edit_mapping(text, item, was, wanted, edits)
        elif not same(was, wanted):
            block = _block(item, MappingNode | SequenceNode)
            edits.append(
                (
                    item.start_mark.index,
                    _entry_end(text, item) - 1 if block else item.end_mark.index,
                    render(wanted),
                )
            )
    first = node.value[0].start_mark.index
    indent = text[_line_start(text, first) : first]  # `  - ` as the file writes it
    end = _entry_end(text, node.value[-1])
    if len(target) > len(current):
        lines = "".join(f"{indent}{render(item)}\n" for item in target[len(current) :])
        edits.append((end, end, lines if text[end - 1 : end] == "\n" else "\n" + lines))
    elif len(target) < len(current):
        edits.append((_line_start(text, node.value[len(target)].start_mark.index), end, ""))


def _block(node: Node, kind: type) -> bool:
    return isinstance(node, kind) and not node.flow_style


def _replace(text: str, key: Node, node: Node, value: object) -> tuple[int, int, str]:
    if isinstance(node, MappingNode | SequenceNode) and not node.flow_style:
        # A block collection becomes an inline value on its key's line.
        start = text.index(":", key.end_mark.index) + 1
        return start, _entry_end(text, node) - 1, " " + render(value)
    style = node.style if isinstance(node, ScalarNode) else None
    return node.start_mark.index, node.end_mark.index, render(value, style)


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _entry_end(text: str, value_node: Node) -> int:
    """The index just past the last line of an entry whose value is `value_node`, its comment included
    (a block collection's own end mark lies at the next key, past blank lines and the next comments)."""
    while isinstance(value_node, MappingNode | SequenceNode) and not value_node.flow_style:
        last = value_node.value[-1]
        value_node = last[1] if isinstance(value_node, MappingNode) else last
    end = value_node.end_mark.index
    if end > 0 and text[end - 1] == "\n":  # a block scalar ends with its newline
        return end
    newline = text.find("\n", end)
    return len(text) if newline == -1 else newline + 1
