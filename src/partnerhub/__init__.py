"""PartnerHub: a self-hosted wholesale provisioning hub."""

__version__ = "0.1.0"
