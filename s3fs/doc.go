// Package s3fs is an endpoint.Endpoint over S3-compatible object storage
// (minio-go): a root is a bucket and a key prefix, and any number of nodes
// may serve it at once, holding nothing but caches.
//
// Mapping. A file is an object under the prefix; its mtime (ns), mode and
// xxhash travel in user metadata (x-amz-meta-ferry-*). Directories are
// implied by keys; Mkdir writes a marker "dir/" that keeps an empty
// directory, its body a line with the mode and mtime (SeaweedFS keeps a
// marker's body but not its metadata). A symlink is a small object marked as a
// link whose body is the target. S3 keys are byte strings: no folding.
//
// Identity. A file's or symlink's Ino is a hash of its object's ETag, so SameStat
// tells a rewritten object from the scanned one even when size and mtime
// agree. Overwrites are conditional on the ETag behind that Ino
// (If-Match), creates on absence (If-None-Match: *); a 412 is
// endpoint.ErrChanged.
//
// Writes. A received file is spooled in CacheDir; one of 8 MiB or more
// streams into a multipart upload part by part as its bytes become
// contiguous. Beside the upload a small sidecar object (.ferry-tmp.up.*,
// which scans skip) names it and holds the xxhash state after its last
// part: S3 cannot read an incomplete upload back, so this is how another
// node resumes (ListParts confirms the parts) and still checks the whole
// file's hash at Commit. Unchanged parts of a new version are copied from
// the current object on the server (UploadPartCopy).
//
// Caveats:
//   - Remove and Rename's delete re-stat the object, then delete it with
//     If-Match on the ETag checked (a presigned DELETE: minio-go's
//     RemoveObject sends no conditions). AWS and SeaweedFS honour it; a
//     store that ignores it leaves only the re-stat, and a write landing
//     between the two is lost to the delete.
//   - Renaming a directory copies and deletes each object below it, one by
//     one: not atomic.
//   - The scan cache trusts (key, ETag, size, last-modified): a metadata-only
//     rewrite by another tool within the same second as the previous write
//     of the same content is not seen until the content changes.
//   - An upload abandoned for good (its file gone at the source) stays in
//     the bucket: set a lifecycle rule that aborts incomplete multipart
//     uploads after some days. Stale spools go after a week.
//   - FreeSpace reports an unknown space (zero Total): object stores have
//     no free space to ask for. A file over 5 TiB, S3's object limit, gets
//     endpoint.ErrNoSpace.
package s3fs
