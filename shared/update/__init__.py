"""Installed builds: build metadata, the frozen launcher, TUF-verified updates with rollback.

Qt-free; every app and the server use it. ``shared.update.client`` checks and applies updates,
``shared.update.repository`` makes and signs releases (used by ``packaging/release.py``).
"""
