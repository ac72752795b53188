//! The directory walk of `ork scan DIR` and `ork rbac -f DIR` (docs/checks.md §7).

use std::fmt;
use std::fs::FileType;
use std::path::{Path, PathBuf};

use crate::read::{Problem, ReadError};

/// The extensions of Kubernetes manifests a walk reads.
pub const MANIFEST_EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// What a walked entry is, when it is not a regular file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Symlink,
    Fifo,
    Socket,
    BlockDevice,
    CharDevice,
    /// any other type the platform has
    Other,
}

impl FileKind {
    pub(crate) fn of(t: &FileType) -> FileKind {
        if t.is_symlink() {
            return FileKind::Symlink;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if t.is_fifo() {
                return FileKind::Fifo;
            }
            if t.is_socket() {
                return FileKind::Socket;
            }
            if t.is_block_device() {
                return FileKind::BlockDevice;
            }
            if t.is_char_device() {
                return FileKind::CharDevice;
            }
        }
        FileKind::Other
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Symlink => "a symbolic link",
            FileKind::Fifo => "a FIFO",
            FileKind::Socket => "a socket",
            FileKind::BlockDevice => "a block device",
            FileKind::CharDevice => "a character device",
            FileKind::Other => "a special file",
        })
    }
}

/// An entry the walk did not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub kind: FileKind,
}

impl Skipped {
    /// A special file (FIFO, socket, device): worth a word even without `-v`, unlike a
    /// symbolic link, which the walk is documented not to follow.
    pub fn is_special(&self) -> bool {
        self.kind != FileKind::Symlink
    }
}

/// The regular files of a tree, and what was skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walk {
    /// regular files with one of the extensions, in walk order
    pub files: Vec<PathBuf>,
    /// symbolic links (whatever their name) and special files with one of the extensions
    pub skipped: Vec<Skipped>,
}

/// Walks `dir` recursively: entries in byte order of their paths within each directory, hidden
/// directories skipped, symbolic links not followed; regular files whose extension is one of
/// `extensions` are listed. Nothing is opened, so a FIFO cannot block the walk: read the files
/// with [`crate::read_walked`], which refuses an entry that stopped being a regular file.
pub fn walk(dir: &Path, extensions: &[&str]) -> Result<Walk, ReadError> {
    let mut out = Walk::default();
    walk_into(dir, extensions, &mut out)?;
    Ok(out)
}

fn walk_into(dir: &Path, extensions: &[&str], out: &mut Walk) -> Result<(), ReadError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ReadError {
            name: dir.display().to_string(),
            problem: Problem::Io(e),
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    for p in entries {
        // an entry that vanished since read_dir is not an error: the tree is being edited
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let t = meta.file_type();
        let wanted = p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e));
        if t.is_dir() {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if !hidden {
                walk_into(&p, extensions, out)?;
            }
        } else if t.is_file() {
            if wanted {
                out.files.push(p);
            }
        } else if t.is_symlink() || wanted {
            out.skipped.push(Skipped {
                kind: FileKind::of(&t),
                path: p,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn regular_files_only_in_byte_order_and_the_rest_reported() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for f in [
            "b.yaml",
            "a.yml",
            "c.json",
            "notes.txt",
            "sub/z.yaml",
            ".hidden/x.yaml",
            "B.yaml",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "a: 1\n").unwrap();
        }
        std::os::unix::fs::symlink(root.join("b.yaml"), root.join("link.yaml")).unwrap();
        std::os::unix::fs::symlink(root.join("sub"), root.join("linkdir")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("pipe.yaml"))
            .status()
            .is_ok_and(|s| s.success());
        let w = walk(root, MANIFEST_EXTENSIONS).unwrap();
        let rel = |p: &PathBuf| p.strip_prefix(root).unwrap().display().to_string();
        let files: Vec<String> = w.files.iter().map(rel).collect();
        assert_eq!(files, ["B.yaml", "a.yml", "b.yaml", "c.json", "sub/z.yaml"]);
        let mut skipped: Vec<(String, FileKind)> =
            w.skipped.iter().map(|s| (rel(&s.path), s.kind)).collect();
        skipped.sort_by(|a, b| a.0.cmp(&b.0));
        let mut want = vec![
            ("link.yaml".to_string(), FileKind::Symlink),
            ("linkdir".to_string(), FileKind::Symlink),
        ];
        if fifo {
            want.push(("pipe.yaml".to_string(), FileKind::Fifo));
        }
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(skipped, want);
    }
}
