"""SQLAlchemy connect args for the local SQLite metadata DB.

SQLite's default 5 s lock timeout once failed the UI's unpause+trigger pair on a loaded
2-core machine; 30 s removed such failures (see docs/local_stack.md).
"""

CONNECT_ARGS = {"timeout": 30}
