"""The HTTP surface, one module per dialect. Every view reads cached state only."""
