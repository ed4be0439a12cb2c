"""Sample data: the county roster and generators of synthetic lectures."""
