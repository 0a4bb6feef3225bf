// Package syncer owns one job's sync pass: the pure three-way reconcile of
// ancestor, local and remote trees, the safety checks that halt a pass, and
// the apply step that carries the plan out against two Endpoints and records
// what actually happened in the snapshot.
//
// Caveats:
//   - Conflict copies of directories (a type clash where the losing side is a
//     directory) reach the other side on the next pass, not the same one;
//     file and symlink copies in two-way jobs are sent in the same pass.
//   - A case clash is detected only when one side holds two names differing
//     by case and the other side holds some but not all of them (see
//     Reconcile); otherwise the endpoint's re-check protects a
//     case-insensitive filesystem and the next pass reports the clash.
//   - max_delete counts every removal, including the children of a removed
//     directory and the old entry of a type change; the zero config.Limit
//     means 50%.
//   - Pass does not own the scan caches: pass them in Options.Caches to have
//     them committed after both scans succeed.
//   - Resolve copies the sending side's file after a Stat, which carries no
//     content hash: a change made during that copy is not detected. The
//     resolved path's ancestor is forgotten, so the next pass re-agrees on it.
package syncer
