//! Object Store (to come).
