"""Fuzzing the operator's inputs: hypothesis strategies for manifests of the three kinds
(valid, edge and invalid), a classifier of what became of each, and webhook deliveries."""
