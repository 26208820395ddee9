"""The one event stream (written by database triggers), its pull feed and webhooks."""
