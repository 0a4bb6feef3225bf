// Package snapshot keeps one job's persistent state in a bbolt file: the
// ancestor (the state both sides last agreed on), a scan cache per side,
// the unresolved conflicts and the last pass record.
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
//   - Open moves an unreadable or wrong-schema file aside (PATH.corrupt-
//     <unixtime>) rather than failing; check Recovered and tell the user.
//     bbolt can fault on a damaged file, which Open survives by reading every
//     page once; a file damaged after Open can still crash the process.
//   - One process at a time: a second Open of the same file fails after one
//     second with an error wrapping ErrInUse.
package snapshot
