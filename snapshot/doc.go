// Package snapshot keeps one job's persistent state in a bbolt file: the
// ancestor (the state both sides last agreed on), a scan cache per side
// with the chunk lists of that side's large files, the unresolved
// conflicts and the last pass record.
//
// Caveats:
//
//   - Writer buffers: Record and Forget reach the file only when a batch
//     commits (every FlushOps operations, when the oldest buffered one is
//     FlushDelay old at the time of the next operation, or on Flush). A
//     crash loses at most the unflushed batch. That is safe because the
//     syncer treats a path whose ancestor is missing but whose content is
//     equal on both sides as "record, no transfer", and a lost Forget only
//     leaves an ancestor entry for a path absent on both sides. Call Flush
//     at the end of a pass and before Close; Ancestor sees flushed data only.
//   - Every stored value ends with a CRC-32C of its key and value
//     (AppendRecord), checked on every read. Open checks every record once
//     and moves a damaged or wrong-schema file aside (PATH.corrupt-
//     <unixtime>) rather than failing; a schema 1 file (no checksums) is
//     converted in place. Damage found later surfaces as an error wrapping
//     ErrDamaged (bbolt's panics and faults on a bad page are recovered
//     into it); the caller then calls Recover. Either way TakeRecovery
//     reports the replacement once, to the pass that runs without an
//     ancestor because of it.
//   - Chunk lists (Cache.StoreChunks) stay out of memory but for a
//     bounded batch, so a tree of large files does not hold every list:
//     about 35 bytes per chunk, 100 KB for a 200 MiB file. A list is
//     stored with the lstat and hash it was computed for; the user of
//     LoadChunks compares them with the file. Commit drops the lists of
//     files whose scan cache record it deletes or rewrites for another
//     lstat or hash; a list of a file the cache never held stays until
//     that file is scanned.
//   - The scan cache (Cache) follows the bucket with cursors instead of
//     loading it: call Store in scan order (key order), or every Store
//     that goes backwards costs a seek and keeps the bookkeeping of
//     another run until Commit. Commit keeps every record stored since the
//     last Commit, also by a scan given up, and drops the others.
//   - The cache holds at most about maxHeld (8192) records in memory
//     between writes: a scan's records for paths it has passed, and the
//     hashes learned outside a scan (Learn: files a pass copied or wrote),
//     are written as they reach it, so a first sync of a million files
//     does not hold a million. Each record written is a file's lstat with
//     the hash of its content, so a pass interrupted at any point leaves
//     no record a file's content does not match; CommitLearned writes
//     what is still held.
//   - One process at a time: a second Open of the same file fails after one
//     second with an error wrapping ErrInUse.
package snapshot
