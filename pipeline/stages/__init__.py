"""Thin DVC entry points: parse config, call the library, write outputs (see dvc.yaml)."""
