//! One agent per data folder. Two agents on the same SQLite would both replay the log, both number
//! events from the same seq and fight over every commit (the second concedes the first one's
//! matches, the first then loops on `UNIQUE constraint failed: events.seq`). So the agent takes an
//! exclusive lock on `DATA_DIR/edge-agent.lock` before it opens the database and holds it until it
//! has stopped; a second agent finds it taken and refuses to start, naming the holder's pid.
//!
//! The lock is the operating system's (`flock` on Unix, through `File::try_lock`): it goes away
//! with the process, however the process ends, so a crash never leaves a stale lock behind. The
//! pid written into the file is only for the message.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

/// The lock file inside the data folder.
pub const LOCK_FILE: &str = "edge-agent.lock";

/// Why the data folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "data folder {dir} is in use by another edge-agent ({holder}); stop it first, or give this one another --data-dir"
    )]
    Held {
        /// The data folder.
        dir: PathBuf,
        /// `pid N`, as the holder wrote it, or `pid unknown`.
        holder: String,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock data folder {dir}: {source}")]
    Io {
        /// The data folder.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The held lock; dropping it releases the folder.
#[derive(Debug)]
pub struct DataLock {
    _file: File,
}

/// Creates `dir` if needed and locks it for this process.
///
/// # Errors
///
/// [`LockError::Held`] when another process holds it; [`LockError::Io`] when the file cannot be
/// made or locked.
pub fn lock(dir: &Path) -> Result<DataLock, LockError> {
    let io = |source| LockError::Io {
        dir: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let pid = text.trim();
            return Err(LockError::Held {
                dir: dir.to_owned(),
                holder: if pid.is_empty() {
                    "pid unknown".to_owned()
                } else {
                    format!("pid {pid}")
                },
            });
        }
        Err(TryLockError::Error(source)) => return Err(io(source)),
    }
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(DataLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_folder_is_refused_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("dojo-lock-{}", std::process::id()));
        let first = lock(&dir).expect("the first lock");
        let refused = lock(&dir).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            refused.contains(&format!("pid {}", std::process::id())),
            "{refused}"
        );
        drop(first);
        assert!(lock(&dir).is_ok(), "free again once dropped");
        std::fs::remove_dir_all(dir).ok();
    }
}
