"""The inside of one job run: its context, story and suite references, and its slices."""
