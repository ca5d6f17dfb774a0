"""A registered version answering questions: its files fetched and verified once (`versions`), an adapter
on its base model (`answerer`), and the pyfunc model MLflow runs (`pyfunc`).

May import: rlvr.mlops and every layer below it.
"""
