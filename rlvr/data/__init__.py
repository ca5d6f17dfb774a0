"""Where rows come from and how they become training examples: the data sources by name (`catalog`) and
the built-in problem generator (`problems`), reasoning-gym tasks (`gym`), benchmark suites (`suites`), hub
and local files (`sources`), cleaning and the held-out split (`prepare`), the prompts and the answer format
(`prompts`), TRL examples (`examples`).

May import: rlvr.config and the bottom layer (errors, files, hashing).
"""
