"""Hostile input, tried as an attacker would, as classes of input on both doors and both
databases."""
