"""Push dispatch: provider credentials encrypted at rest, the guarded outbound HTTP client, and (with the
rest of CONTRACT.md §8) the dispatcher."""
