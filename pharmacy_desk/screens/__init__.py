"""The desk's screens, one module each: review, dispense, returns (refunds and delivery), stock, printers."""
