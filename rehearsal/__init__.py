"""The seed recipe (the `qwen3-4b` profile) rehearsed end to end, offline, on stand-ins of the same shape:
`make rehearse` (`python -m rehearsal`). See `standins.py` for the stand-ins and `overlay.yaml` for the
only values the rehearsal changes."""
