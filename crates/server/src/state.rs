//! Shared state handed to every handler.

use certwright_core::services::Services;
use certwright_pki::envelope::Keyring;
use certwright_store::SqlStore;
use std::sync::Arc;

/// What handlers reach: the core services (and, for later faces, the keyring).
#[derive(Debug, Clone)]
pub struct AppState {
    pub services: Arc<Services<SqlStore>>,
    pub keyring: Arc<Keyring>,
}
