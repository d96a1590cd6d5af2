"""What to try next: distributions, the space, trials, caviar and the search driver.

numpy only: ruff bans torch in this folder, so a search can be planned without importing it."""
