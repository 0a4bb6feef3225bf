// Package watch keeps fsnotify watches on every directory below a set of
// roots (fsnotify is not recursive) and turns raw events into the
// relative paths that changed; the agent's continuous jobs and ferry
// serve's Watch both use it.
//
// Caveats: a directory that cannot be watched (the inotify watch limit,
// permissions) is skipped; Tracker.Failed reports the first such failure
// as an *AddError, which names the sysctl to raise at the limit.
package watch
