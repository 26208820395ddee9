"""Installation assistance requests: a partner asks its support team to help install a
customer's services."""
