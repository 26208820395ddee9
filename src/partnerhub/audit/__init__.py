"""The audit log: who did what to what, when, from where (issue 13 item 5, issue 12 item 5)."""
