// Package restore is what `ferry versions` and `ferry restore` need of a
// side's version store: the Side a front end lists and restores through
// (a folder on this machine, or a ferry:// remote through the control
// channel), and Pick, the pure choice of which kept versions put a file or
// a folder back as of a time.
//
// Caveats: a version holds what a file was until the moment it was kept.
// Pick finds a file's state as of a time from the first version kept
// after it; a file that did not exist then but was created and replaced
// later is put back as that later content, since the store knows when a
// file was replaced, not when it was made.
package restore
