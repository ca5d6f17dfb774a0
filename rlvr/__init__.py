"""rlvr: reinforcement learning from verifiable rewards (GRPO) for math, as a reproducible pipeline.

The package is layered, bottom first; each folder may import only itself and those listed before it
(tests/test_architecture.py):

    errors, files, hashing, locks   the bottom: errors a user can fix, atomic files, hashes, locks
    config/                         params.yaml: the schema, profiles
    data/                           where rows come from, prompts, the held-out split, TRL examples
    verify/                         parsing completions, the rewards, math-verify under a time limit
    training/                       hardware, models, decoding, trainers, checkpoints
    evaluation/                     scoring, statistics, conclusions, reports, plots
    mlops/                          MLflow tracking and registry, lineage, dvc.yaml
    serving/                        a registered version answering questions
    cli                             the `rlvr` command

The DVC stages (`tasks/`) and the Prefect flows (`flows/`) sit above the package.
"""

__version__ = "0.1.0"
