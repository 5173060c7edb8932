//! Message headers (in progress).
/// Placeholder until the headers module lands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {}
