"""streaming layer (see DESIGN.md §2)."""
