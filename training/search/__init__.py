"""Full-text search over what was said in lectures (and their titles), Chinese-aware."""
