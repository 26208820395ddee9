"""Partner organizations: their settings (PSTN providers, offers) and sub-partners."""
