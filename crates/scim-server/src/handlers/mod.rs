//! Resource handlers: Users, Groups, search, Bulk, bulk deactivate.

use crate::app::AppState;
use axum::Router;

/// The family-relative resource routes (`/Users`, `/Groups`, `/Bulk`, `/.search`, ...).
pub fn routes() -> Router<AppState> {
    Router::new()
}
