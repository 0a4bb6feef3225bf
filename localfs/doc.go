// Package localfs is the Endpoint for a folder on this machine: it scans the
// folder in tree order with cached xxhash content hashes, and changes it only
// after re-checking that the disk still matches what the caller last saw.
//
// Caveats:
//   - Every access goes through an os.Root opened on the folder, so no path
//     (including "..", absolute paths and symlinks) can reach outside it.
//     Write paths are additionally resolved one directory at a time without
//     following symlinks: writing below a symlinked directory fails with
//     endpoint.ErrChanged even when the link points inside the folder.
//   - The re-check before Remove, Symlink, SetMeta and an overwriting Commit
//     and the kernel call that follows are two steps: a change made in the
//     microseconds between them is not detected. Rename and a Commit onto an
//     absent destination use renameat2(RENAME_NOREPLACE) on Linux and cannot
//     overwrite; elsewhere they fall back to check-then-rename.
//   - A file of up to wholeMax (64 KiB) is written whole under a temporary
//     name (.ferry-tmp. and 16 hex digits), synced and renamed into place
//     as a partial is, but without the partial's lock, mark or resume:
//     writers of one path each have their own temporary file, and
//     RENAME_NOREPLACE or the re-check before the rename decides between
//     them. Abort and a failed Commit remove it; one a crash left goes
//     with the scan that finds it stale. What follows about partials
//     applies to larger files.
//   - A writer holds an exclusive flock on its partial file from CreateFile
//     until Commit or Abort; a second writer of the same path, in this
//     process or another, gets endpoint.ErrChanged. The lock is advisory:
//     only ferry respects it, and outside Linux there is none.
//   - A partial file is resumed or replaced only if ferry made it: it
//     carries the extended attribute user.ferry.partial (set on each new
//     partial, and removed from the file right after the rename into
//     place), or ferry's
//     marker, the checkpoint file, is beside it (an empty one is made
//     instead of the attribute where the filesystem has no user extended
//     attributes). Any other NAME.partial is a user's file in the way: the
//     path fails with a *endpoint.InTheWayError (endpoint.ErrInTheWay) until
//     it is moved or deleted.
//     Partials left by ferry versions that made no marker for local
//     copies are reported the same way. An unmarked NAME.partial that some
//     other program holds flock'ed is reported as a transfer in progress
//     (endpoint.ErrChanged) instead.
//   - A process killed at any step of a Commit (see CommitStep) leaves
//     either a partial that still carries its mark, which the next
//     attempt resumes or replaces, or the finished file in place: the mark
//     outlives the rename. A crash between the rename and the removal of
//     the tag leaves the tag on the finished file, where it is harmless:
//     it is only ever read on partial names, which ferry never gives a
//     synced file. Options.Failpoint stops a Commit at each step for tests.
//   - Scan removes ferry's partial files that nothing has asked for in
//     Options.StalePartialAge (24 hours by default; measured from the
//     partial's mtime, which every write and every resume moves) together
//     with their checkpoints, checkpoints older than that whose partial
//     is gone, and temporary files (.ferry-tmp. and 16 hex digits) a
//     crash left: an interrupted transfer whose source was then deleted
//     or renamed would otherwise keep its partial forever. Only a
//     regular file that is tagged or marked as ferry's (see above) and
//     that no writer holds locked is removed; a user's NAME.partial,
//     symlinks and directories stay. A transfer resumed after a longer
//     pause starts over. Outside Linux there is no lock, so a writer
//     stalled for longer than the age can lose its partial and fails at
//     Commit, to be retried. Each removal is logged at Info; a failed one
//     is logged and the scan goes on.
//   - SetMeta cannot change a symlink's permission bits (Linux has no
//     lchmod); it sets only the link's own mtime.
//   - The scan cache trusts a file whose inode, size, mtime and mode are
//     unchanged. A rewrite that keeps the size and sets the mtime back
//     in the same inode is not seen until the file changes again (as with
//     rsync or git). A rewrite during the hash itself is caught through the
//     ctime.
//   - With ScanOptions.HashLater the scan reads no file the cache does not
//     know (but one large enough for a chunk list, with Options.Chunks): it
//     lists it with Hash 0. Its reader (OpenFile) is then an
//     endpoint.HashingReader: read whole and in order (a copy), Sum gives
//     the xxhash of what was read if the file's fstat still matches the
//     scan's entry and its ctime did not move since the open (else
//     ErrChanged, and no hash), and hands the hash to the Cache (Learn),
//     so that the next scan does not read the file either.
//   - A Commit hands the Cache (Learn) the file it put in place: the hash
//     of what was written (checked against the expected one, or for a
//     file written in order with none expected, the digest of the bytes
//     written) with the fstat of the file as written, taken from its open
//     descriptor after the rename, and only if the file still has the
//     size and mtime Commit gave it. The next scan trusts it as it trusts
//     a scanned file (inode, size, mtime, mode), so a file changed after
//     it landed is read again. Not learned: a file with no mtime given
//     (meta.Mtime 0: it has the commit time, which a write in the same
//     clock tick would keep), and with Options.Chunks a file large enough
//     for a chunk list, which the next scan reads for its list.
//   - Linux is the supported platform. Elsewhere the package builds, but
//     setting mtimes and FreeSpace are unsupported and Rename falls back
//     to check-then-rename within one directory.
//   - Directories written into are kept open between calls (at most 128,
//     until Close) and revalidated by lstat on every use.
//   - Commits in one directory share its fsyncs: a Commit returns after
//     an fsync of the directory that started after its own rename, and
//     one such fsync serves every commit that queued while the previous
//     one ran. A failed fsync fails every Commit it served and those
//     queued behind it. A Commit queued behind another's fsync stops
//     waiting with an error when the context given to CreateFile ends or
//     the FS is closed (the file is then in place but may not survive a
//     crash); one that found the directory idle runs the fsync itself and
//     waits for it, as for its file's own fsync.
//   - With Options.Chunks, the scan's read of a file of chunk.MinFileSize
//     or more also cuts it into chunks (chunk.New tees into the xxhash:
//     one read, five to seven times the CPU of xxhash alone), and Chunks
//     answers from that list while the file's lstat (size, mtime, mode,
//     inode) is the one it was computed for and its hash is the expected
//     one. Like the scan cache, it cannot see a rewrite that keeps all of
//     those; the receiver verifies what it builds from a list anyway.
//   - Special files (FIFOs, sockets, devices) are reported with Problem set
//     and never opened.
//   - With Options.Versions, a file is removed or replaced only once the
//     version store holds it: a Remove moves it there (rename), an
//     overwriting Commit or Symlink first gives it a second name there
//     (hard link; a move where the filesystem has none, which leaves the
//     path empty until the rename that follows). If the store cannot take
//     it (another filesystem mounted inside the folder, no permission),
//     the operation fails and nothing changes. Paths inside a
//     .ferry-versions folder, at any depth, are never scanned and every
//     write to them fails with tree.ErrInvalidPath.
//   - The Cache must be safe for concurrent use: Scan looks entries up from
//     its walker and stores them from the emitting goroutine.
package localfs
