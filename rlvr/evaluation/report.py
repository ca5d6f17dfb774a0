"""Rendering an evaluation for people: the tables, the Markdown report, the answers that changed. The one
place reports are rendered: `rlvr report`, the Prefect run's artifact and the MLflow run all read it."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

from rlvr.evaluation.scoring import COMPARISONS, models_of
from rlvr.evaluation.stats import conclusion, points


def comparison_rows(metrics: Mapping[str, Mapping]) -> list[list[str]]:
    """The before/after table: one row per model (in evaluation order), accuracy with its 95% interval.

    >>> comparison_rows({"base": {"accuracy": 0.0, "accuracy_ci_low": 0.0, "accuracy_ci_high": 0.088,
    ...                           "format": 0.05, "mean_length": 64.0, "problems": 40}})
    [['base', '0.0% [0.0, 8.8]', '5.0%', '64.0', '40']]
    """
    return [
        [
            name,
            f"{m['accuracy']:.1%} [{100 * m['accuracy_ci_low']:.1f}, {100 * m['accuracy_ci_high']:.1f}]",
            f"{m['format']:.1%}",
            f"{m['mean_length']:.1f}",
            str(m["problems"]),
        ]
        for name, m in models_of(metrics).items()
    ]


COMPARISON_HEADER = [
    "model",
    "held-out accuracy [95% CI]",
    "format compliance",
    "mean length (tokens)",
    "problems",
]

DELTA_HEADER = ["comparison", "accuracy delta [95% CI]", "McNemar p", "conclusion"]


def delta_rows(metrics: Mapping) -> list[list[str]]:
    """One row per paired comparison: the delta in points with its interval, the p-value, the verdict.

    >>> delta_rows({"comparisons": [{"from": "sft", "to": "grpo", "delta": 0.06, "ci_low": 0.021,
    ...                              "ci_high": 0.098, "p_value": 0.004, "n": 200}]})[0][:3]
    ['sft -> grpo', '+6.0 points [+2.1, +9.8]', '0.004']
    """
    return [
        [
            f"{c['from']} -> {c['to']}",
            points(c),
            f"{c['p_value']:.3g}",
            conclusion(c),
        ]
        for c in metrics.get(COMPARISONS, [])
    ]


def wrapped(text: str, width: int, indent: str = "- ") -> str:
    """A line of prose for the terminal, wrapped at `width` between words but never inside a bracketed
    interval, which would read as two numbers on two lines.

    >>> print(wrapped("sft beats base by +29.3 points [+22.1, +37.1]", 36))
    - sft beats base by +29.3 points
      [+22.1, +37.1]
    """
    protected = re.sub(r"\[[^\]]*\]", lambda interval: interval.group().replace(" ", "\0"), text)
    lines = textwrap.fill(
        protected,
        width,
        initial_indent=indent,
        subsequent_indent=" " * len(indent),
        break_long_words=False,
        break_on_hyphens=False,
    )
    return lines.replace("\0", " ")


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [f"| {' | '.join(header)} |", "|" + "---|" * len(header), *(f"| {' | '.join(r)} |" for r in rows)]


def markdown_report(
    metrics: Mapping, registered: dict | None, mlflow_ui: str, notes: Sequence[str] = ()
) -> str:
    """The before/after tables in Markdown, the conclusions, and links to the MLflow run and version.

    >>> print(markdown_report({"base": {"accuracy": 0.0, "accuracy_ci_low": 0.0, "accuracy_ci_high": 0.49,
    ...                                 "format": 0.0, "mean_length": 64.0, "problems": 4}},
    ...                       None, "http://127.0.0.1:5000"))
    # rlvr: held-out evaluation
    <BLANKLINE>
    | model | held-out accuracy [95% CI] | format compliance | mean length (tokens) | problems |
    |---|---|---|---|---|
    | base | 0.0% [0.0, 49.0] | 0.0% | 64.0 | 4 |
    <BLANKLINE>
    No registered version yet.
    """
    lines = ["# rlvr: held-out evaluation", ""]
    lines += _markdown_table(COMPARISON_HEADER, comparison_rows(metrics))
    if metrics.get(COMPARISONS):
        lines += ["", *_markdown_table(DELTA_HEADER, delta_rows(metrics))]
    if notes:
        lines += ["", *(f"- {escaped(note)}" for note in notes)]
    lines.append("")
    if registered is None:
        lines.append("No registered version yet.")
        return "\n".join(lines)
    run = registered["run_id"]
    lines.append(f"- MLflow run: [{run}]({mlflow_ui}/#/experiments/{registered['experiment_id']}/runs/{run})")
    name, version = registered["model_name"], registered.get("version")
    if registered.get("registered", True):
        lines.append(
            f"- Registered model: [{name} v{version}]({mlflow_ui}/#/models/{name}/versions/{version})"
        )
        lines.append(f"- Aliases: {', '.join(registered['aliases'])}")
    else:
        lines.append(f"- No version registered: {registered.get('reason', 'registration is off')}")
    return "\n".join(lines)


def changed_rows_markdown(rows: Sequence[dict], pairs: Sequence[tuple[str, str]], limit: int = 20) -> str:
    """The problems whose correctness changed between the compared models, as a Markdown table.

    >>> print(changed_rows_markdown([{"problem": "1+1", "answer": "2", "base_completion": "3",
    ...     "grpo_completion": "<SOLUTION>2</SOLUTION>", "base_vs_grpo": "fixed"}], [("base", "grpo")]))
    | problem | answer | change | base | grpo |
    |---|---|---|---|---|
    | 1+1 | 2 | fixed by grpo | 3 | &lt;SOLUTION&gt;2&lt;/SOLUTION&gt; |
    """
    changed = [(row, a, b, row[f"{a}_vs_{b}"]) for row in rows for a, b in pairs if row.get(f"{a}_vs_{b}")]
    if not changed:
        return "No answer changed between the compared models."
    lines = ["| problem | answer | change | before | after |", "|---|---|---|---|---|"]
    if len(pairs) == 1:
        a, b = pairs[0]
        lines[0] = f"| problem | answer | change | {a} | {b} |"
    for row, a, b, what in changed[:limit]:
        cells = [row["problem"], row["answer"], f"{what} by {b}" + ("" if len(pairs) == 1 else f" (vs {a})")]
        cells += [row.get(f"{a}_completion") or "", row.get(f"{b}_completion") or ""]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if len(changed) > limit:
        lines.append(f"\n{len(changed) - limit} more in the MLflow run's side_by_side.json table.")
    return "\n".join(lines)


def _cell(text: str, width: int = 120) -> str:
    """Text fit for one Markdown table cell: one line, escaped, cut at `width` characters."""
    text = " ".join(str(text).split())
    text = text if len(text) <= width else text[: width - 1] + "…"
    return escaped(text).replace("|", "\\|")


def escaped(text: str) -> str:
    """Text that Markdown shows as written: the answer markers (`<SOLUTION>`) are no HTML tags to it.

    >>> escaped("<SOLUTION>4 & 5</SOLUTION>")
    '&lt;SOLUTION&gt;4 &amp; 5&lt;/SOLUTION&gt;'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def table_artifact(rows: Sequence[Mapping]) -> list[dict]:
    """Rows for a Prefect table artifact, every text cell escaped: the UI renders each cell as Markdown,
    where a completion's markers read as tags and vanish, running reasoning and answer together.

    >>> table_artifact([{"grpo_completion": "<SOLUTION>4</SOLUTION>", "grpo_correct": True}])
    [{'grpo_completion': '&lt;SOLUTION&gt;4&lt;/SOLUTION&gt;', 'grpo_correct': True}]
    """
    return [
        {key: escaped(value) if isinstance(value, str) else value for key, value in row.items()}
        for row in rows
    ]


def offline_plots_page(shown: dict) -> str:
    """One self-contained HTML page of `dvc plots show --json`'s plots: Vega-Lite specs drawn as SVG by
    vl-convert (no JavaScript, no network), image plots embedded as data URLs, in UTF-8."""
    import base64
    import html

    import vl_convert

    sections = []
    for name, renders in shown.items():
        for render in renders:
            if render.get("type") == "vega":
                figure = vl_convert.vegalite_to_svg(render["content"])
            else:
                data = base64.b64encode(Path(render["url"]).read_bytes()).decode()
                figure = f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
            sections.append(f"<section><h2>{html.escape(name)}</h2>{figure}</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>rlvr plots</title></head>\n'
        "<body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )
