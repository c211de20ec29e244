"""Tests of the pure crypto package."""
