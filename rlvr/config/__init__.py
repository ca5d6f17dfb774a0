"""params.yaml as typed, validated objects (`schema`), the profiles written into it (`profiles`), and the
YAML read strictly (`yamlfile`) and edited in place (`yamledit`).

May import: rlvr.errors, rlvr.files, rlvr.locks. The schema itself imports no domain code: the names params
may use (problem kinds, rewards, suites, reasoning-gym tasks) are listed in it.
"""
