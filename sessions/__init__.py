"""Session lifecycle, domain events and their workflows (lifecycle issue)."""

__all__: list[str] = []
