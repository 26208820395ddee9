"""The phone-number inventory of locations (issue 4, item 2): ``/v1/telephony/config/...``."""
