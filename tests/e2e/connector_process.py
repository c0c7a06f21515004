"""End-to-end plumbing: see connector/sandbox/stack.py (shared with the demo and benchmarks)."""

from connector.sandbox.stack import Stack, wait_for
from connector.sandbox.stack import connector_process as connector_stack

__all__ = ["Stack", "connector_stack", "wait_for"]
