// Package restore is what `ferry versions` and `ferry restore` need of a
// side's version store: the Side a front end lists and restores through
// (a folder on this machine, or a ferry:// remote through the control
// channel), and Pick, the pure choice of which kept versions put a file or
// a folder back as of a time.
//
// Caveats: a version holds what a file was from its modification time
// until the moment it was kept. Pick finds a file's state as of a time
// from the version whose span covers it, so it trusts modification
// times: a file written with an old mtime (unpacked from an archive) may
// be taken for what the folder held before it arrived.
package restore
