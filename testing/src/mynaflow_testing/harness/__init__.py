"""Harnesses that run one service for a test (in-process or as a process), and feed and read it."""
