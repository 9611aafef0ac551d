"""Sync client (Qt-free): push the outbox, pull the feed with long-poll, bootstrap, online state."""
