"""``clinic admin``: the administration window (reference data, import, audit log, PCs)."""
