//! I/O-free protocol layer (in progress).
