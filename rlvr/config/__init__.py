"""params.yaml as typed, validated objects, the profiles written into it, and YAML edited in place."""
