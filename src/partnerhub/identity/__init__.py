"""Partner administrators' credentials: passwords, portal sessions, API tokens."""
