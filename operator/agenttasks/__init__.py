"""AgentTask operator: a Kubernetes job system for AI-agent workloads."""

__version__ = "0.1.0"
