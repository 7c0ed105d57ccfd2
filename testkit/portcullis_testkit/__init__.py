"""Helpers for the Portcullis end-to-end test suite.

Everything here binds to 127.0.0.1 only and every process/thread started by
a helper can be stopped through the object that started it.
"""
