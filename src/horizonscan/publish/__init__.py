"""Publishing stage: Markdown pages in the seed layout, an index, and exports."""
