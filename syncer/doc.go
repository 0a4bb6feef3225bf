// Package syncer owns one job's sync pass: the pure three-way reconcile of
// ancestor, local and remote trees, the safety checks that halt a pass, and
// the apply step that carries the plan out against two Endpoints and records
// what actually happened in the snapshot.
package syncer
