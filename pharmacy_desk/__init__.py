"""The pharmacy desk (``clinic pharmacy``): review, dispensing, refunds and delivery, stock, printers."""
