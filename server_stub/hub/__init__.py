"""The clinic hub: a process on the clinic's LAN that speaks the central API's protocol to the clinic's
PCs, proxies to the central API while it answers, and keeps the clinic working together while it does
not (see "Clinic hub" in DESIGN.md)."""
