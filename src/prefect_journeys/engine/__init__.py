"""The tick: enroll, exits and goals, step processors, dispatch — set-based SQL, clock injected."""
