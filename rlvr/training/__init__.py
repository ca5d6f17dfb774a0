"""Models, the machine, decoding, TRL's trainers and resumable runs."""
