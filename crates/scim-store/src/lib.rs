//! Persistence for SCIM resources (being built: see issue 3).
