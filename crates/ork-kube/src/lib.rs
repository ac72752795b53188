//! Kubernetes plumbing the runtime and the Gateway share, so neither writes it twice:
//! [`lease`], the single-writer Lease both run on (`orkestra-runtime`, `orkestra-gateway-config`),
//! and [`health`], the plain port that serves `/healthz`, `/readyz` and `/metrics`.

pub mod health;
pub mod lease;
