"""Thin I/O: translating between Kubernetes objects and our facts, and the API calls."""
