"""events layer (see DESIGN.md §2)."""
