"""End-to-end tests: the real server with real screen clients (fixtures in tests/conftest.py)."""
