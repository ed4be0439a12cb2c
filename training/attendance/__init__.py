"""Attendance per clinic: the player's heartbeats, the time each session, doctor and clinic
watched (the union of watched intervals), and the reports coordinators act on."""
