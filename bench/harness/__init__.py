"""Portcullis benchmark harness (bench/run)."""
