"""connector/store.py: what the SQLite write gate promises across a fork."""

from __future__ import annotations

import fcntl
import os

import pytest
from sqlalchemy import text

from connector import store

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def test_a_forked_child_is_excluded_while_the_parent_writes(tmp_path):
    """flock belongs to the open file description, which a fork shares: the child must open its
    own, or both sides of ``serve``'s fork would hold the write gate at once."""
    engine = store.make_engine(f"sqlite:///{tmp_path / 'gate.db'}")
    lock_file = os.stat(tmp_path / "gate.db-writelock")
    with engine.begin() as conn:  # BEGIN IMMEDIATE: the parent holds the gate
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        pid = os.fork()
        if pid == 0:  # the child tries this file's gate without waiting
            code = 2
            try:
                for gate in list(store._GATES):
                    fd = gate._fd
                    if fd is not None and os.fstat(fd).st_ino == lock_file.st_ino:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        code = 1  # got it: the parent's lock did not exclude this process
            except BlockingIOError:
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    engine.dispose()


def test_a_new_sqlite_file_and_its_companions_are_readable_by_the_owner_only(tmp_path):
    """Customer texts and the webhook signing secret: 0600 whatever the umask lets through."""
    path = tmp_path / "new" / "connector.db"
    old_umask = os.umask(0o022)
    try:
        engine = store.make_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        files = {p.name: p.stat().st_mode & 0o777 for p in path.parent.iterdir()}
        engine.dispose()
    finally:
        os.umask(old_umask)
    assert {"connector.db", "connector.db-wal", "connector.db-shm",
            "connector.db-writelock"} <= set(files)
    assert files == dict.fromkeys(files, 0o600)
