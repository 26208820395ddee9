"""Installation assistance requests (S27): a partner asks its support team to help install a
customer's services."""
