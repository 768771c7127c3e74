"""AgentTask operator: a Kubernetes job system for AI-agent workloads."""

from importlib.metadata import PackageNotFoundError, version

# The one place the version is written is pyproject.toml; the chart follows it
# (`agenttasks chart-version --write`, checked by tests/unit/test_version.py).
try:
    __version__ = version("agenttasks")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
