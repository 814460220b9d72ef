"""The inside of one job run: its context, story and suite references, and its slices."""

__all__: list[str] = []
