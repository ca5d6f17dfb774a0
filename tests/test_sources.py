from datetime import datetime
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlvr.data.sources import load_hub, load_local
from rlvr.errors import DataError
from rlvr.files import read_jsonl, write_jsonl

# The configs section of OpenR1-Math-220k's README.md, which maps configs to folders.
README = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
- config_name: extended
  data_files:
  - split: train
    path: extended/train-*
---
"""


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """No network and no cache outside tmp_path. `datasets` reads these variables once, at import, so
    its config is patched as well."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf" / "datasets")


def openr1_rows(n: int, tag: str = "") -> list[dict]:
    """Rows with every column of OpenR1-Math-220k, nested ones included."""
    return [
        {
            "problem": f"{tag}What is {i} + {i}?",
            "solution": f"{i} + {i} = {2 * i}",
            "answer": str(2 * i),
            "problem_type": "Algebra",
            "question_type": "math-word-problem",
            "source": "olympiads",
            "uuid": f"uuid-{i}",
            "is_reasoning_complete": [True, False],
            "generations": ["<think>...</think> 2", "<think>..."],
            "correctness_math_verify": [True, False],
            "correctness_llama": None,
            "finish_reasons": None,
            "correctness_count": 1,
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        }
        for i in range(n)
    ]


def hub_repo(root: Path) -> Path:
    """A local directory laid out like the Hub repo: data/ for "default", extended/ for "extended"."""
    for folder, rows in (("data", openr1_rows(5)), ("extended", openr1_rows(3, tag="Ext: "))):
        (root / folder).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows), root / folder / "train-00000-of-00001.parquet")
    return root


def test_load_hub_reads_openr1s_layout_and_keeps_three_columns(tmp_path):
    repo = hub_repo(tmp_path / "repo")
    rows = load_hub(str(repo), None, None, "train", None)
    assert rows[:2] == [
        {"problem": "What is 0 + 0?", "answer": "0", "solution": "0 + 0 = 0"},
        {"problem": "What is 1 + 1?", "answer": "2", "solution": "1 + 1 = 2"},
    ]
    assert len(rows) == 5
    assert load_hub(str(repo), "default", "main", "train", 3) == rows[:3]
    assert load_hub(str(repo), None, None, "train", 50) == rows


def test_load_hub_needs_the_readme_for_other_configs(tmp_path):
    repo = hub_repo(tmp_path / "repo")
    with pytest.raises(ValueError, match="extended"):
        load_hub(str(repo), "extended", None, "train", None)
    (repo / "README.md").write_text(README)
    rows = load_hub(str(repo), "extended", None, "train", None)
    assert [row["problem"] for row in rows] == [f"Ext: What is {i} + {i}?" for i in range(3)]


def test_load_hub_without_a_solution_column(tmp_path):
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"problem": ["p"], "answer": ["a"]}), tmp_path / "data" / "train.parquet")
    assert load_hub(str(tmp_path), None, None, "train", None) == [{"problem": "p", "answer": "a"}]


def test_load_hub_rejects_a_dataset_without_problem_and_answer(tmp_path):
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"question": ["p"], "answer": ["a"]}), tmp_path / "data" / "train.parquet")
    with pytest.raises(ValueError, match=r"no \['problem'\] column"):
        load_hub(str(tmp_path), None, None, "train", None)


OWN_NAMES = {"problem": "problem", "answer": "answer", "solution": "solution"}


def test_load_local_reads_jsonl_parquet_and_directories(tmp_path):
    write_jsonl([{"problem": "p1", "answer": "1", "note": "x"}, [1, 2]], tmp_path / "a.jsonl")
    (tmp_path / "sub").mkdir()
    pq.write_table(pa.Table.from_pylist(openr1_rows(2)), tmp_path / "sub" / "b.parquet")
    (tmp_path / "notes.txt").write_text("ignored inside a directory")
    assert load_local(str(tmp_path / "a.jsonl"), OWN_NAMES) == [{"problem": "p1", "answer": "1"}, [1, 2]]
    parquet = load_local(str(tmp_path / "sub" / "b.parquet"), OWN_NAMES)
    assert parquet == [{k: row[k] for k in ("problem", "answer", "solution")} for row in openr1_rows(2)]
    assert load_local(str(tmp_path), OWN_NAMES) == [{"problem": "p1", "answer": "1"}, [1, 2], *parquet]


def test_load_local_reads_only_the_needed_parquet_columns(tmp_path):
    """A timestamp column, which JSONL cannot hold, is never read."""
    table = pa.table(
        {
            "problem": ["What is 6 * 7?"],
            "answer": [42],
            "created": pa.array([datetime(2025, 1, 2, 3, 4)], pa.timestamp("us")),
        }
    )
    pq.write_table(table, tmp_path / "rows.parquet")
    rows = load_local(str(tmp_path / "rows.parquet"), OWN_NAMES)
    assert rows == [{"problem": "What is 6 * 7?", "answer": 42}]
    write_jsonl(rows, tmp_path / "raw.jsonl")
    assert read_jsonl(tmp_path / "raw.jsonl") == rows


def test_load_local_maps_the_files_columns(tmp_path):
    columns = {"problem": "question", "answer": "final_answer", "solution": None}
    write_jsonl([{"question": "q", "final_answer": "1", "solution": "ignored"}], tmp_path / "a.jsonl")
    pq.write_table(pa.table({"question": ["r"], "final_answer": ["2"]}), tmp_path / "b.parquet")
    assert load_local(str(tmp_path), columns) == [
        {"problem": "q", "answer": "1"},
        {"problem": "r", "answer": "2"},
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_load_local_names_the_columns_it_found(tmp_path, suffix):
    path = tmp_path / f"rows{suffix}"
    rows = [{"question": "q", "final_answer": "1"}]
    if suffix == ".jsonl":
        write_jsonl(rows, path)
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(DataError) as error:
        load_local(str(path), OWN_NAMES)
    message = str(error.value)
    assert "has no 'problem' or 'answer' column; its columns are question, final_answer" in message
    assert "data.local.columns: {problem: <column>, answer: <column>" in message
    assert "\n" not in message


def test_load_local_errors(tmp_path):
    with pytest.raises(DataError, match="nowhere"):
        load_local(str(tmp_path / "nowhere.jsonl"), OWN_NAMES)
    (tmp_path / "rows.csv").write_text("problem,answer\n")
    with pytest.raises(ValueError, match=r"\.jsonl, \.parquet"):
        load_local(str(tmp_path / "rows.csv"), OWN_NAMES)
    with pytest.raises(ValueError, match="no .jsonl or .parquet files"):
        load_local(str(tmp_path), OWN_NAMES)
    (tmp_path / "bad.jsonl").write_text('{"problem": "p", "answer": "1"}\n\n{"problem": \n')
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 3"):
        load_local(str(tmp_path / "bad.jsonl"), OWN_NAMES)


def test_a_byte_that_is_not_utf8_names_the_file_and_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"problem": "p", "answer": "1"}\n{"problem": "caf\xe9", "answer": "2"}\n')
    with pytest.raises(DataError) as error:
        load_local(str(path), OWN_NAMES)
    assert str(error.value) == (f"{path}, line 2: not UTF-8 (byte 0xe9 at column 17); save the file as UTF-8")


def test_jsonl_round_trip_keeps_unicode_unescaped(tmp_path):
    rows = [{"problem": "Combien font 2 × 3 ? π ≈ 3.14", "answer": "6"}, {"problem": "x²", "answer": "½"}]
    path = tmp_path / "out" / "rows.jsonl"
    write_jsonl(rows, path)
    assert read_jsonl(path) == rows
    assert "×" in path.read_text(encoding="utf-8")
    assert [p.name for p in path.parent.iterdir()] == ["rows.jsonl"]


def test_write_jsonl_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_jsonl([{"problem": "old", "answer": "1"}], path)

    def rows():
        yield {"problem": "new", "answer": "2"}
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(rows(), path)
    assert read_jsonl(path) == [{"problem": "old", "answer": "1"}]
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]


def test_fetch_stage_reads_a_hub_dataset_named_in_params(tmp_path):
    """The fetch stage's command line, with `data.source: hub` pointing at OpenR1's layout on disk."""
    import os
    import subprocess

    import yaml

    from tests.stages import ROOT, stage_command

    hub = hub_repo(tmp_path / "openr1")
    params = {"data": {"source": "hub", "hub": {"path": str(hub), "config": "default", "max_rows": 3}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "raw.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run(
        stage_command(tmp_path, "fetch", out=out),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "fetch: 3 rows from the hub source" in result.stdout
    assert read_jsonl(out) == [
        {"problem": r["problem"], "answer": r["answer"], "solution": r["solution"]} for r in openr1_rows(3)
    ]


def test_fetch_stage_reads_local_files_with_their_own_column_names(tmp_path):
    """Without the mapping the stage fails with one line naming the columns; with it, every row comes."""
    import subprocess

    import yaml

    from tests.stages import ROOT, stage_command

    table = pa.table(
        {
            "question": ["What is 6 * 7?", "What is 2 + 2?"],
            "final_answer": [42, 4],
            "created": pa.array([datetime(2025, 1, 2), datetime(2025, 1, 3)], pa.timestamp("us")),
        }
    )
    pq.write_table(table, tmp_path / "rows.parquet")

    def fetch(local: dict) -> subprocess.CompletedProcess:
        params = {"data": {"source": "local", "local": {"path": str(tmp_path / "rows.parquet"), **local}}}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        command = stage_command(tmp_path, "fetch", out=tmp_path / "raw.jsonl")
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)

    refused = fetch({})
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ") and len(refused.stderr.splitlines()) == 1
    assert "its columns are question, final_answer, created" in refused.stderr
    assert "data.local.columns" in refused.stderr
    assert not (tmp_path / "raw.jsonl").exists()

    fetched = fetch({"columns": {"problem": "question", "answer": "final_answer", "solution": None}})
    assert fetched.returncode == 0, fetched.stderr
    assert read_jsonl(tmp_path / "raw.jsonl") == [
        {"problem": "What is 6 * 7?", "answer": 42},
        {"problem": "What is 2 + 2?", "answer": 4},
    ]


def test_load_local_reads_a_linked_file_and_refuses_a_linked_folder(tmp_path):
    """DVC hashes a linked file's content but not what a linked folder holds: rlvr reads the one and refuses
    the other in one line, rather than skip its rows silently or read rows whose edits rerun nothing."""
    elsewhere = tmp_path / "elsewhere"
    write_jsonl([{"problem": "linked", "answer": "1"}], elsewhere / "more" / "rows.jsonl")
    write_jsonl([{"problem": "own", "answer": "2"}], tmp_path / "data" / "a.jsonl")
    (tmp_path / "data" / "b.jsonl").symlink_to(elsewhere / "more" / "rows.jsonl")
    assert [row["problem"] for row in load_local(str(tmp_path / "data"), OWN_NAMES)] == ["own", "linked"]
    (tmp_path / "data" / "more").symlink_to(elsewhere / "more", target_is_directory=True)
    with pytest.raises(DataError, match=r"data/more is a link to a folder, which rlvr does not follow") as e:
        load_local(str(tmp_path / "data"), OWN_NAMES)
    assert "\n" not in str(e.value)


def cached_hub_dataset(hf_home: Path, repo_id: str, commit: str, rows: list[dict]) -> None:
    """`repo_id` at `commit` in the `datasets` cache under `hf_home`, as a download of it leaves it: what an
    offline load of the hub id reads (built by `datasets` itself from a local folder, then filed under the
    hub id and the commit)."""
    source = hf_home.parent / "hub-source"
    (source / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), source / "data" / "train.parquet")
    builder = datasets.load_dataset_builder(str(source), cache_dir=str(hf_home.parent / "build"))
    builder.download_and_prepare()
    namespace, name = repo_id.split("/")
    cached = hf_home / "datasets" / f"{namespace}___{name}" / "default" / "0.0.0" / commit
    cached.parent.mkdir(parents=True)
    Path(builder.cache_dir).rename(cached)
    (cached / "hub-source-train.arrow").rename(cached / f"{name}-train.arrow")


def test_fetch_warns_of_an_unpinned_hub_revision_and_records_the_commit_it_read(tmp_path):
    """`data.hub.revision: null` on a hub id: the stage says, in one warning line, which commit it fetched
    and that `dvc repro` will not notice the dataset change; the report records that commit. Pinned, no
    warning."""
    import json
    import os
    import subprocess

    import yaml

    from tests.stages import ROOT, stage_command

    commit = "0123456789abcdef0123456789abcdef01234567"
    cached_hub_dataset(tmp_path / "hf", "someone/math", commit, [{"problem": "1 + 1?", "answer": "2"}])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_DATASETS_CACHE", None)

    def fetch(revision: str | None) -> subprocess.CompletedProcess:
        params = {"data": {"source": "hub", "hub": {"path": "someone/math", "revision": revision}}}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        command = stage_command(tmp_path, "fetch", out=tmp_path / "raw.jsonl", report=tmp_path / "fetch.json")
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)

    unpinned = fetch(None)
    assert unpinned.returncode == 0, unpinned.stderr
    warnings = [line for line in unpinned.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        f"warning: data.hub.revision is not pinned: someone/math was fetched at commit {commit} (the fetch "
        f"report records it), and `dvc repro` will not fetch again when the dataset changes; set "
        f"data.hub.revision: {commit} to keep this snapshot"
    ]
    assert json.loads((tmp_path / "fetch.json").read_text()) == {
        "data": {
            "source": "hub", "rows": 1, "path": "someone/math", "requested_revision": None, "revision": commit
        }
    }  # fmt: skip
    assert read_jsonl(tmp_path / "raw.jsonl") == [{"problem": "1 + 1?", "answer": "2"}]
    pinned = fetch(commit)
    assert pinned.returncode == 0, pinned.stderr
    assert "warning: " not in pinned.stderr
    assert json.loads((tmp_path / "fetch.json").read_text())["data"]["requested_revision"] == commit


def test_editing_a_local_sources_file_outside_the_project_makes_fetch_out_of_date(tiny_model, tmp_path):
    """A real DVC project with `data.source: local` on a file outside it: after `dvc repro fetch`, editing
    every gold answer in that file makes `dvc status` report fetch's dependency changed, and the next
    repro fetches the new answers."""
    import yaml

    from tests.conftest import dvc, make_project

    project = make_project(tmp_path / "project", tiny_model)
    outside = tmp_path / "elsewhere" / "problems.jsonl"
    write_jsonl([{"problem": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(6)], outside)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"] |= {"source": "local", "local": {"path": str(outside)}}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    dvc(project, "repro", "fetch")
    assert "up to date" in dvc(project, "status", "fetch").stdout
    write_jsonl([{"problem": f"What is {i} + 1?", "answer": str(i + 7)} for i in range(6)], outside)
    status = dvc(project, "status", "fetch").stdout
    assert "changed deps" in status and f"modified:           {outside}" in status
    dvc(project, "repro", "fetch")
    assert [row["answer"] for row in read_jsonl(project / "data" / "raw" / "problems.jsonl")] == [
        str(i + 7) for i in range(6)
    ]


def test_check_params_names_each_source_that_will_be_fetched_in_words(tmp_path):
    """The words come from the source's entry in `rlvr.data.catalog.SOURCES`, as the registered version's
    description does; a hub source without a pinned revision says so before anything is fetched."""
    from typer.testing import CliRunner

    from rlvr.cli import app

    params = tmp_path / "params.yaml"
    params.write_text(
        "data: {source: hub, hub: {path: org/math, max_rows: 9}}\n"
        "sft: {max_steps: 5, data: {source: local, local: {path: data/local}}}\n"
    )
    result = CliRunner().invoke(app, ["check-params", str(params)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-2:] == [
        "data: hub: org/math (train, at most 9 rows; revision unpinned)",
        "sft.data: local: the local file data/local",
    ]
