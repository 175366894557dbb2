"""Fakes for tests: real servers on 127.0.0.1 (port 0) that keep state and inject faults."""
