"""The node's local state: the SQLite store (``sqlite``) and the undo stack that makes an
operation all or nothing (``transaction``)."""
