"""MLflow runs of the pipeline, on their own: params as MLflow params."""

from __future__ import annotations

from rlvr.mlops.runs import flatten


def test_flatten_makes_dotted_string_params():
    assert flatten({"a": {"b": 1, "c": {"d": None}}, "e": [1, 2]}) == {
        "a.b": "1",
        "a.c.d": "None",
        "e": "[1, 2]",
    }
