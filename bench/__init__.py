"""Benchmarks of fabfleet's host against reference senders on the simulated printer."""
