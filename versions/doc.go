// Package versions is the version store of one synced folder: the files
// ferry replaces or deletes there are moved (renamed, never copied) into
// the folder's .ferry-versions directory, under names a person can browse
// without ferry, and pruned by a policy that is a pure function of the
// stored versions and the time (Prune).
//
// A version of dir/report.txt kept at 2026-12-07 14:05:12.123 UTC because
// the peer deleted it is .ferry-versions/dir/report~20261207-140512.123Z~deleted.txt:
// the stem, a tilde, the UTC time to the millisecond, a tilde, the reason,
// then the original extension (see Name and ParseName; any base name
// round-trips, including ones with tildes and without an extension).
//
// Caveats:
//   - Keep is a rename: the store must be on the same filesystem as the
//     file. A file on another filesystem mounted inside the folder cannot
//     be kept, and Keep fails with an error wrapping ErrCrossDevice instead
//     of copying it.
//   - A process killed during Keep leaves the file either in place or in
//     the store, never neither: the one step that moves it is a rename.
//   - The store's own directory is excluded case-insensitively (IsStorePath):
//     on a case-insensitive filesystem .Ferry-Versions is the same folder.
//   - Directories are not versions: Keep refuses them (ErrIsDir). ferry
//     deletes a folder file by file, so every file in it is kept.
package versions
