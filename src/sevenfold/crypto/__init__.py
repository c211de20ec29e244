"""Thin, pure wrappers over ``cryptography``; no I/O and no home-grown primitives."""
