"""What the tests share: how a job is launched and read back, small corpora, configs, ports.

Fixtures live in tests/conftest.py; plain functions and constants live here, so no test module imports
another."""
