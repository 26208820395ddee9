"""Operating PartnerHub: metrics, structured logs, traces, backups, the doctor
(docs/deployment.md)."""
