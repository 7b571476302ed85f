//! Renaming a directory, when [`ObjectStorageConfig::recursive_dir_rename`]
//! allows it: object by object, each copied server-side and then deleted.
//!
//! S3 cannot move a prefix in one step. Moving each object as soon as it
//! is copied never removes anything that was not copied (an object added
//! during the rename is listed and moved, or stays under the old name),
//! but a failure half-way leaves the directory split between the two
//! names: the reply then says how many objects moved, and that the rest
//! is still under the old name. Nothing is moved before the checks that
//! can refuse the rename (target exists, into itself, missing parent).
//!
//! [`ObjectStorageConfig::recursive_dir_rename`]: super::ObjectStorageConfig::recursive_dir_rename

use futures_util::StreamExt;

use super::super::{ErrorKind, StorageError, StorageResult};
use super::io::map_error;

/// Moves every key below `from_dir` (both ending with `/`) to the same
/// place below `to_dir`, listing `page` keys per request.
pub(super) async fn move_dir(
    op: &opendal::Operator,
    from_dir: &str,
    to_dir: &str,
    page: usize,
) -> StorageResult<()> {
    let mut moved = 0u64;
    let result = move_all(op, from_dir, to_dir, page, &mut moved).await;
    match result {
        Ok(()) => Ok(()),
        Err(e) if moved == 0 => Err(e),
        Err(e) => Err(StorageError::new(
            e.kind(),
            format!(
                "Renaming stopped after moving {moved} objects ({e}); the rest is still under \
                 the old name."
            ),
        )),
    }
}

async fn move_all(
    op: &opendal::Operator,
    from_dir: &str,
    to_dir: &str,
    page: usize,
    moved: &mut u64,
) -> StorageResult<()> {
    // The new directory shows even while (or if) nothing is moved into it.
    op.create_dir(to_dir).await.map_err(map_error)?;
    let mut lister = op
        .lister_with(from_dir)
        .recursive(true)
        .limit(page)
        .await
        .map_err(map_error)?;
    // Markers go last, deepest first: on stores with real directories
    // (SeaweedFS), deleting a marker before the objects below it leaves
    // the directory in place. One name per directory is kept meanwhile.
    let mut markers = vec![from_dir.to_owned()];
    while let Some(entry) = lister.next().await {
        let entry = entry.map_err(map_error)?;
        let from = entry.path();
        let Some(rest) = from.strip_prefix(from_dir) else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        let to = format!("{to_dir}{rest}");
        if from.ends_with('/') {
            op.create_dir(&to).await.map_err(map_error)?;
            markers.push(from.to_owned());
        } else {
            op.copy(from, &to).await.map_err(map_error)?;
            op.delete(from).await.map_err(map_error)?;
            *moved += 1;
        }
    }
    markers.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for marker in markers {
        op.delete(&marker).await.map_err(map_error)?;
    }
    Ok(())
}

/// The refusal when directory renames are off.
pub(super) fn refused() -> StorageError {
    StorageError::new(
        ErrorKind::Unsupported,
        "Directories cannot be renamed on object storage (every object below would be copied)."
            .to_owned(),
    )
}
