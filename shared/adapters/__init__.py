"""Adapters to systems outside the suite (SMS gateway …): a small interface each, with a local stub."""
