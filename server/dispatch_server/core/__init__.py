"""What every layer shares: ids, time, domain errors and cursors. Knows no HTTP, SQL or SMTP."""
