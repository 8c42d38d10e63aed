//! The client's owner key: the secret that makes the pages it generates its own
//! (docs/ARCHITECTURE.md, "Owners and moderation"), so that `livepage pages`, `publish`,
//! `unpublish` and `delete` can act on them.
//!
//! One key per user, made on first use from the operating system's random source and kept in
//! the client's configuration folder (`$LIVEPAGE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/livepage`,
//! else `~/.config/livepage`), in a file named `owner-key` that only its owner may read (mode
//! 0600, in a folder of mode 0700). The server only ever stores its SHA-256.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use crate::domain::OwnerKey;

/// The file's name in the configuration folder.
const FILE_NAME: &str = "owner-key";
/// Random bytes in a new key: 288 bits, 48 URL-safe characters.
const KEY_BYTES: usize = 36;

/// Why there is no owner key to use.
#[derive(Debug, thiserror::Error)]
pub enum OwnerKeyError {
    #[error("no configuration folder: set LIVEPAGE_CONFIG_DIR, XDG_CONFIG_HOME or HOME")]
    NoFolder,
    #[error("cannot keep the owner key in {}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} does not hold an owner key (32 to 128 of A-Z a-z 0-9 - _)", .0.display())]
    Malformed(PathBuf),
}

/// Where the key is kept, from the environment.
pub fn key_path() -> Result<PathBuf, OwnerKeyError> {
    let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    let folder = if let Some(dir) = var("LIVEPAGE_CONFIG_DIR") {
        PathBuf::from(dir)
    } else if let Some(dir) = var("XDG_CONFIG_HOME") {
        PathBuf::from(dir).join("livepage")
    } else if let Some(home) = var("HOME") {
        PathBuf::from(home).join(".config").join("livepage")
    } else {
        return Err(OwnerKeyError::NoFolder);
    };
    Ok(folder.join(FILE_NAME))
}

/// The key kept at `path`, made and written there first if there is none.
pub fn load_or_create(path: &Path) -> Result<OwnerKey, OwnerKeyError> {
    let io_error = |source| OwnerKeyError::Io {
        path: path.to_owned(),
        source,
    };
    match fs::read_to_string(path) {
        Ok(text) => {
            return OwnerKey::parse(text.trim())
                .map_err(|_| OwnerKeyError::Malformed(path.to_owned()));
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(io_error(err)),
    }
    let mut bytes = [0u8; KEY_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let key = URL_SAFE_NO_PAD.encode(bytes);
    if let Some(folder) = path.parent() {
        create_private_folder(folder).map_err(io_error)?;
    }
    match write_private(path, &key) {
        Ok(()) => {}
        // Another run made one meanwhile: that one is the key.
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => return load_or_create(path),
        Err(err) => return Err(io_error(err)),
    }
    Ok(OwnerKey::parse(&key).expect("48 URL-safe characters are an owner key"))
}

/// Only a new file, readable and writable by its owner alone.
fn write_private(path: &Path, key: &str) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(format!("{key}\n").as_bytes())?;
    file.sync_all()
}

fn create_private_folder(folder: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_kept_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join(FILE_NAME);
        let made = load_or_create(&path).unwrap();
        assert_eq!(
            load_or_create(&path).unwrap(),
            made,
            "the same key next time"
        );
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 48);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
            let folder = fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(folder & 0o777, 0o700, "{folder:o}");
        }
        let elsewhere = tempfile::tempdir().unwrap();
        let other = elsewhere.path().join(FILE_NAME);
        assert_ne!(
            load_or_create(&other).unwrap(),
            made,
            "another user, another key"
        );

        fs::write(&path, "not a key\n").unwrap();
        assert!(matches!(
            load_or_create(&path),
            Err(OwnerKeyError::Malformed(_))
        ));
    }
}
