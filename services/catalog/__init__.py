"""The media catalog: libraries, path mappings, player groups, players, movies, episodes."""
