"""Reference data in and out of the suite: read a hospital's HIS exports and plan their import."""
