"""Logs say what matters once: no warning repeated at every generation, no generated files in git."""

from __future__ import annotations

from tests.conftest import ROOT


def test_decoding_a_bpe_tokenizer_that_asks_for_clean_up_warns_nothing(tiny_model, tmp_path):
    import json
    import logging

    from transformers import AutoTokenizer

    from rlvr.training.models import load_tokenizer

    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    config["clean_up_tokenization_spaces"] = True  # as the embedded GGUF's tokenizer asks
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    loaded = load_tokenizer(tmp_path)
    warnings: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = warnings.append
    logging.getLogger("transformers").addHandler(handler)
    try:
        text = "What is 12 + 30 ?"
        assert loaded.decode(loaded(text)["input_ids"]) == text  # BPE: no clean-up, the text as it was
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    assert not loaded.clean_up_tokenization_spaces
    assert not [w for w in warnings if "clean_up_tokenization_spaces" in w.getMessage()]


def test_dvc_plot_renders_are_ignored_by_git():
    assert "dvc_plots/" in (ROOT / ".gitignore").read_text().splitlines()
