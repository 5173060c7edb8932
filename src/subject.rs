//! Subject validation (in progress).
