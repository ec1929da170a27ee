"""Shared foundations every package may import: settings, user errors, crash-safe writes, progress, checksums.

It imports nothing else from the project, so any package can use it without pulling in another job.
"""
