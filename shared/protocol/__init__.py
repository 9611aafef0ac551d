"""Wire models: the contract between the apps and the central API (see shared.protocol.models)."""
