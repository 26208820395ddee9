"""The web portal: server-rendered Jinja2 pages, sessions, CSRF, translations."""
