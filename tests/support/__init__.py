"""Helpers shared by the integration tests: real services started in temporary folders."""
