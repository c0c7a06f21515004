"""The browser fixtures ``chromium`` and ``browser_page`` live in tests/conftest.py: one
session browser shared by every directory that needs one."""
