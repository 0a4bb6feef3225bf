// Package watch keeps fsnotify watches on every directory below a set of
// roots (fsnotify is not recursive) and turns raw events into the
// relative paths that changed; the agent's continuous jobs and ferry
// serve's Watch both use it.
//
// Caveats: a directory that cannot be watched (the inotify watch limit,
// permissions) is skipped with everything below it, and logged only at
// debug level; Tracker.Failed reports one such directory as an *AddError,
// which names the sysctl to raise at the limit, and Tracker.Unwatched how
// many there are. The owner says so and rescans: AddAll tries them again,
// and they are forgotten once watched or gone.
package watch
