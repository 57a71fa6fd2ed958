//! Typed SCIM client and the `scim` CLI (a later issue).
