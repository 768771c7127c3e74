"""The agenttasks.io API: pydantic models of our kinds, the one source of truth for the CRDs."""
