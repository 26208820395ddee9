"""The customer administrators' portal: an organization's own view of itself."""
