//! Budgeted reads of user-named inputs.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use ork_limits::{Exceeded, Limits};

use crate::escape::escape_control;
use crate::walk::FileKind;

/// How stdin is named in messages and reports.
pub const STDIN: &str = "<stdin>";

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The text of one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// `<stdin>`, or the path as the user gave it
    pub name: String,
    /// the file read; `None` for stdin
    pub path: Option<PathBuf>,
    /// the content, without a leading byte-order mark
    pub text: String,
}

/// An input that could not be read, and which one.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", escape_control(name))]
pub struct ReadError {
    /// the input as [`Input::name`] would name it
    pub name: String,
    pub problem: Problem,
}

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("{}", io_message(.0))]
    Io(io::Error),
    /// more than `file.bytes`: reading stopped one byte past the limit
    #[error("{0}")]
    Budget(Exceeded),
    #[error("not UTF-8 text (invalid byte at line {line}, column {column})")]
    NotUtf8 { line: usize, column: usize },
    #[error("is a directory")]
    Directory,
    /// a walked entry that is not (or no longer) a regular file
    #[error("{0}, not a regular file")]
    NotRegular(FileKind),
}

fn io_message(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

impl ReadError {
    fn new(name: &str, problem: Problem) -> Self {
        ReadError {
            name: name.to_string(),
            problem,
        }
    }
}

/// Reads a file the user named (`-` is stdin) as UTF-8 text, at most `limits.file_bytes`.
///
/// The limit is enforced while reading, so a FIFO, a character device such as `/dev/zero` or a
/// growing file stops one byte past it with [`Problem::Budget`]. Special files are read (the
/// user named them: `ork validate -f <(…)` is a pipe); directories are refused.
pub fn read_text(path: &Path, limits: &Limits) -> Result<Input, ReadError> {
    if path.as_os_str() == "-" {
        let bytes = read_capped(STDIN, io::stdin().lock(), limits.file_bytes, None)?;
        return Ok(Input {
            name: STDIN.into(),
            path: None,
            text: decode(STDIN, bytes)?,
        });
    }
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| ReadError::new(&name, Problem::Io(e)))?;
    let meta = file
        .metadata()
        .map_err(|e| ReadError::new(&name, Problem::Io(e)))?;
    if meta.is_dir() {
        return Err(ReadError::new(&name, Problem::Directory));
    }
    let size = meta.is_file().then_some(meta.len());
    let bytes = read_capped(&name, file, limits.file_bytes, size)?;
    Ok(Input {
        text: decode(&name, bytes)?,
        name,
        path: Some(path.to_path_buf()),
    })
}

/// Reads a file found by [`crate::walk`]: like [`read_text`], but the file must still be a
/// regular file when opened. It is opened without following a symbolic link and without
/// blocking, so an entry swapped for a FIFO or a link after the walk is refused, never waited on.
pub fn read_walked(path: &Path, limits: &Limits) -> Result<Input, ReadError> {
    let name = path.display().to_string();
    let file = open_no_block(path).map_err(|e| {
        let problem = if is_symlink_refusal(&e) {
            Problem::NotRegular(FileKind::Symlink)
        } else {
            Problem::Io(e)
        };
        ReadError::new(&name, problem)
    })?;
    let meta = file
        .metadata()
        .map_err(|e| ReadError::new(&name, Problem::Io(e)))?;
    if meta.is_dir() {
        return Err(ReadError::new(&name, Problem::Directory));
    }
    if !meta.is_file() {
        return Err(ReadError::new(
            &name,
            Problem::NotRegular(FileKind::of(&meta.file_type())),
        ));
    }
    let bytes = read_capped(&name, file, limits.file_bytes, Some(meta.len()))?;
    Ok(Input {
        text: decode(&name, bytes)?,
        name,
        path: Some(path.to_path_buf()),
    })
}

#[cfg(unix)]
fn open_no_block(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting for one
    // (it has no effect on regular files); O_NOFOLLOW: the walk does not follow links.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(not(unix))]
fn open_no_block(path: &Path) -> io::Result<File> {
    File::open(path)
}

#[cfg(unix)]
fn is_symlink_refusal(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(not(unix))]
fn is_symlink_refusal(_: &io::Error) -> bool {
    false
}

/// Reads at most `limit` bytes; one more byte means the input is over budget.
///
/// The buffer is sized once: to `size` (a regular file's length) or, for a pipe or device of
/// unknown length, to the whole budget. Growing by doubling instead would copy the data at every
/// step and hold old and new buffers at once — `/dev/zero` under the 64 MiB default peaked at
/// 219 MB that way. Reserving the budget costs address space only: pages are touched as bytes
/// arrive. If the reservation is refused (a raised budget under an address-space limit), the
/// buffer grows as it fills.
fn read_capped(
    name: &str,
    reader: impl Read,
    limit: u64,
    size: Option<u64>,
) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::new();
    let want = size.map_or(limit, |n| n.min(limit)).saturating_add(1);
    let _ = buf.try_reserve_exact(usize::try_from(want).unwrap_or(usize::MAX));
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| ReadError::new(name, Problem::Io(e)))?;
    if u64::try_from(buf.len()).unwrap_or(u64::MAX) > limit {
        return Err(ReadError::new(
            name,
            Problem::Budget(Exceeded::new("file.bytes", limit)),
        ));
    }
    Ok(buf)
}

/// UTF-8 text without a leading BOM; invalid UTF-8 is an error that says where.
fn decode(name: &str, mut bytes: Vec<u8>) -> Result<String, ReadError> {
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        ReadError::new(
            name,
            Problem::NotUtf8 {
                line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
                column: valid.len() - line_start + 1,
            },
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn small(bytes: u64) -> Limits {
        Limits {
            file_bytes: bytes,
            ..Limits::default()
        }
    }

    #[test]
    fn a_file_at_the_limit_reads_and_one_byte_more_is_refused_naming_file_and_budget() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.yaml");
        std::fs::write(&p, "12345").unwrap();
        assert_eq!(read_text(&p, &small(5)).unwrap().text, "12345");
        let e = read_text(&p, &small(4)).unwrap_err();
        assert!(matches!(e.problem, Problem::Budget(_)));
        let m = e.to_string();
        assert!(
            m.contains("a.yaml") && m.contains("file.bytes") && m.contains("ORK_LIMIT_FILE_BYTES"),
            "{m}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn dev_zero_stops_at_the_budget() {
        let t = std::time::Instant::now();
        let e = read_text(Path::new("/dev/zero"), &small(1 << 20)).unwrap_err();
        assert!(matches!(e.problem, Problem::Budget(_)), "{e}");
        assert!(
            e.to_string().starts_with("/dev/zero: budget file.bytes"),
            "{e}"
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn bom_is_stripped_and_invalid_utf8_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bom.yaml");
        std::fs::write(&p, b"\xEF\xBB\xBFkind: X\n").unwrap();
        assert_eq!(read_text(&p, &Limits::default()).unwrap().text, "kind: X\n");
        std::fs::write(&p, b"a: 1\nb: \xFF\n").unwrap();
        let e = read_text(&p, &Limits::default()).unwrap_err();
        assert!(
            matches!(e.problem, Problem::NotUtf8 { line: 2, column: 4 }),
            "{e}"
        );
    }

    #[test]
    fn missing_files_and_directories_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_text(&dir.path().join("nope.yaml"), &Limits::default()).unwrap_err();
        assert!(e.to_string().ends_with("nope.yaml: no such file"), "{e}");
        let e = read_text(dir.path(), &Limits::default()).unwrap_err();
        assert!(matches!(e.problem, Problem::Directory), "{e}");
    }

    #[test]
    fn control_characters_in_a_name_are_escaped_in_the_message() {
        let e = ReadError::new("evil\x1b[2J.yaml", Problem::Directory);
        assert_eq!(e.to_string(), "evil\\x1b[2J.yaml: is a directory");
    }

    #[cfg(unix)]
    #[test]
    fn read_walked_refuses_a_fifo_without_blocking_and_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.yaml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let e = read_walked(&fifo, &Limits::default()).unwrap_err();
            assert!(
                matches!(e.problem, Problem::NotRegular(FileKind::Fifo)),
                "{e}"
            );
        }
        let target = dir.path().join("real.yaml");
        std::fs::write(&target, "a: 1\n").unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = read_walked(&link, &Limits::default()).unwrap_err();
        assert!(
            matches!(e.problem, Problem::NotRegular(FileKind::Symlink)),
            "{e}"
        );
        assert_eq!(
            read_walked(&target, &Limits::default()).unwrap().text,
            "a: 1\n"
        );
    }
}
