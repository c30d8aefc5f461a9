"""fabfleet-sim: a Marlin-like printer for the demo and the tests."""
