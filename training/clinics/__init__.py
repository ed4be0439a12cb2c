"""Clinics: a tree of county → township → village, each with a declared bandwidth."""
