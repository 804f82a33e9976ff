"""Integrity audits: model identity, style, contamination and provider agreement."""
