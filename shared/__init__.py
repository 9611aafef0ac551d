"""Clinic Suite core: the Qt-free domain, protocol, store and sync shared by every app and the server."""

__version__ = "0.1.0"
