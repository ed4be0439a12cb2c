"""Users, their roles and their passwords."""
