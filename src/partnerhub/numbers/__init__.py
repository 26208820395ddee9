"""The phone-number inventory of locations ``/v1/telephony/config/...``."""
