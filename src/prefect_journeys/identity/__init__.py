"""The single customer view: normalised keys, identity resolution, audited merges, the profile."""
