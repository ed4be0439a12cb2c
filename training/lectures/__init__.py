"""Lectures: their schedule, their specialist and their audience of clinics."""
