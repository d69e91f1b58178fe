"""Throttling against brute force and abuse: the policies and the counters beneath them."""
