//! Bounded, safe I/O at ork's edges.
//!
//! Everything a user names — a Katalog, a CR file, a scanned directory, stdin — is hostile
//! until read: a FIFO named `x.yaml` in a scanned tree would block forever, `/dev/zero` would be
//! read until memory runs out, and control characters in names would reach the terminal raw.
//! This crate is the one place that reads such input and escapes what goes back out:
//!
//! - [`read_text`] reads a file the user named explicitly (or `-` for stdin) with the
//!   `file.bytes` budget enforced *while* reading, strips a UTF-8 BOM and refuses invalid UTF-8.
//! - [`walk`] lists a directory tree's regular files and reports what it skipped (FIFOs,
//!   sockets, devices, symbolic links); [`read_walked`] reads one of them without ever blocking.
//! - [`escape_control`] makes text safe for a terminal, [`xml_escape`] for XML 1.0.

mod escape;
mod read;
mod walk;

pub use escape::{escape_control, escape_control_multiline, xml_escape};
pub use read::{Input, Problem, ReadError, STDIN, read_text, read_walked};
pub use walk::{FileKind, MANIFEST_EXTENSIONS, Skipped, Walk, walk};
