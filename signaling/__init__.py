"""signaling layer (see DESIGN.md §2)."""
