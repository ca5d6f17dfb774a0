"""Lineage: the git commit a version is tagged with, judged in a real git and DVC repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rlvr.mlops.lineage import git_commit
from tests.conftest import dvc, git

# Stage `count` writes what the pipeline writes (a metrics file git tracks, a folder of outputs); stage
# `version` runs after it, inside the same `dvc repro`, as the register stage does, and writes the
# commit git_commit gives.
DVC_YAML = f"""
vars:
  - paths: {{report: metrics/count.json, models: models}}
stages:
  count:
    cmd: >-
      mkdir -p metrics ${{paths.models}}/a && {sys.executable} -c "import yaml;
      n = yaml.safe_load(open('params.yaml'))['n']; open('${{paths.report}}', 'w').write(str(n));
      open('${{paths.models}}/a/w', 'w').write(str(n))"
    params: [n]
    outs: [ "${{paths.models}}" ]
    metrics:
      - ${{paths.report}}:
          cache: false
  version:
    cmd: >-
      {sys.executable} -c "from rlvr.mlops.lineage import git_commit;
      open('version.txt', 'w').write(git_commit())"
    deps: [ "${{paths.report}}" ]
    outs:
      - version.txt:
          cache: false
"""


def commit(project: Path, message: str) -> str:
    git(project, "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True
    ).stdout.strip()


def test_the_readmes_workflow_registers_a_clean_commit_and_an_edit_is_still_dirty(tmp_path):
    """Commit dvc.lock and the metrics after a run, change a param, commit, `dvc repro`: the run rewrites
    dvc.lock and its outputs before the last stage asks for the commit, which is still clean. An edit to a
    tracked file the pipeline does not write is `+dirty`."""
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    dvc(project, "init", "-q")
    (project / "dvc.yaml").write_text(DVC_YAML)
    (project / "params.yaml").write_text("n: 1\n")
    (project / "notes.md").write_text("notes\n")
    commit(project, "pipeline")
    dvc(project, "repro")
    commit(project, "a run: dvc.lock, metrics")  # as the README says
    (project / "params.yaml").write_text("n: 2\n")
    changed = commit(project, "n: 2")
    dvc(project, "repro")
    assert (project / "metrics" / "count.json").read_text() == "2"
    assert (project / "version.txt").read_text() == changed
    assert git_commit(project) == changed  # dvc.lock, metrics/, models/ and version.txt all rewritten
    (project / "notes.md").write_text("edited\n")
    assert git_commit(project) == f"{changed}+dirty"
