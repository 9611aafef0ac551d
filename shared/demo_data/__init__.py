"""Reference data shipped for the demo: drugs, ICD-10, dictionaries, exam items (CSV)."""
