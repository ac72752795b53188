//! Serving certificates for ork's admission Gateway (docs/security.md §2.10): supplied files
//! or generated material in the Secrets `orkestra-tls` and `orkestra-tls-ca` (§1.3), checked
//! before reuse (G27), a caBundle of CA certificates only (G26), swapped into rustls without a
//! restart, renewed and rotated with a CA overlap.
//!
//! The Gateway's use:
//!
//! 1. `load_files` (TLS_CERT/TLS_KEY/TLS_CA) or `ensure` → [`Material`];
//! 2. [`ReloadableCert::new`] and [`server_config`] for its listener;
//! 3. [`keep_current`] as a task, with a `watch` channel on which every caBundle change
//!    arrives before a certificate anchored in it is served;
//! 4. [`remaining`] for `ork_gateway_cert_expiry_seconds{cert}`.
//!
//! Nothing here logs or formats key material: [`Material`]'s `Debug` redacts the key, and
//! errors name files and Secrets, never their content.

mod error;
mod keep;
mod material;
mod pki;
mod serve;
mod store;
mod x509;

pub use error::{Error, Result};
pub use keep::{Keeper, OnRotate, Source, keep_current};
pub use material::{CertSettings, Material, remaining};
pub use pki::{CA_COMMON_NAME, load_files};
pub use serve::{ReloadableCert, server_config};
pub use store::{
    ANNOTATION_CA_PUBLISHED_AT, ANNOTATION_GENERATED_AT, ANNOTATION_ROTATED_AT, CA_SECRET,
    TLS_SECRET, ensure,
};

#[cfg(test)]
mod tests;
