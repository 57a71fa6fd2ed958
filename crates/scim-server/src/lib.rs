//! The SCIM HTTP service (being built: see issue 4).
