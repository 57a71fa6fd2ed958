//! Integration tests of the HTTP service, driven through the router.
