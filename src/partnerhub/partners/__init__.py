"""Partners and sub-partners: the sub-partner list and acting on behalf of a sub-partner."""
