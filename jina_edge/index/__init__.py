"""The personal file index: extraction, ignore rules, chunking, the SQLite db, sync, search, watch.

`service.Index` is the entry point; the other modules are its parts.
"""
