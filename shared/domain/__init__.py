"""Pure business rules: entities, mutations, masking, search keys. No I/O, no Qt."""
