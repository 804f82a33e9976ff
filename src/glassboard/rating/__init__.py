"""Ratings: battle logs, Elo, Bradley-Terry with style control and confidence intervals (no server imports)."""
