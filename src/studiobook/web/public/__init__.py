"""Public pages: what artists (and guests) see."""
