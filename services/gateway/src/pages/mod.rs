//! The pages, by journey.
//!
//! - [`home`]: the front door (where each person starts), the language switch, not-found;
//! - [`desk`]: the agents' desk: finding a person of their structure;
//! - [`person`]: the agents' journeys for one person: account, mandates, documents;
//! - [`recovery`]: getting a person back into their account at the desk, with a second agent;
//! - [`me`]: "Qui m'aide" (mandates and what was done under them) and changing one's code;
//! - [`staff`]: staff accounts, made by managers and admins;
//! - [`sign_in`]: signing in with a password or a PIN, signing out (here or everywhere);
//! - [`oidc`]: signing in through Keycloak (OpenID Connect, authorization code with PKCE);
//! - [`papers`]: "Mes papiers", a person's documents: see, download, share with a code;
//! - [`share`]: opening a shared document with its code, without an account.

pub mod desk;
pub mod home;
pub mod me;
pub mod oidc;
pub mod papers;
pub mod person;
pub mod recovery;
pub mod share;
pub mod sign_in;
pub mod staff;
pub mod structures;

use serde::Deserialize;

/// Every form's CSRF field.
#[derive(Debug, Default, Deserialize)]
pub struct CsrfOnly {
    #[serde(default, rename = "_csrf")]
    pub csrf: String,
}
