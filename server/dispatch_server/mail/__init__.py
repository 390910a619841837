"""Email itself: parsing what arrives, composing what is built, addresses and verdicts.
Shared by ingest and (later) outbound."""
