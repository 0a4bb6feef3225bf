// Package syncer owns one job's sync pass: the pure three-way reconcile of
// ancestor, local and remote trees, the safety checks that halt a pass, and
// the apply step that carries the plan out against two Endpoints and records
// what actually happened in the snapshot.
//
// Caveats:
//   - Conflict copies of directories (a type clash where the losing side is a
//     directory) reach the other side on the next pass, not the same one;
//     file and symlink copies in two-way jobs are sent in the same pass.
//   - Case and normalisation clashes are judged by what each receiving
//     side's filesystem reported through Endpoint.Folding at the start of
//     the pass; a side that could not say is taken to fold both. Conflict
//     copies made in the same pass are not part of that judgement: two of
//     them that collide are caught by the next pass.
//   - max_delete counts every removal, including the children of a removed
//     directory and the old entry of a type change; the zero config.Limit
//     means 50%. Renames and directory moves (OpRename) are not removals.
//   - Renames and local copies trust the scan's xxhash to say two files
//     hold the same content (reusable); the commit re-checks the hash of
//     what lands, but two colliding files a peer chose on purpose would
//     pass both. A strong hash in tree.Entry is to replace it there.
//   - A directory move checks only the directory itself before renaming
//     it: an edit made below it since the scan moves with it, and the next
//     pass sees it under the new name.
//   - Pass does not own the scan caches: pass them in Options.Caches to have
//     them committed after both scans succeed.
//   - Resolve copies the sending side's file after a Stat, which carries no
//     content hash: a change made during that copy is not detected. The
//     resolved path's ancestor is forgotten, so the next pass re-agrees on it.
package syncer
