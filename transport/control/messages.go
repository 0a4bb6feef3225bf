package control

import (
	"encoding/binary"
	"fmt"
	"io/fs"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/tree"
)

// ChannelType is the SSH channel type every request is opened on. The
// channel's extra data is the request frame; the server answers on the
// channel.
const ChannelType = "ferry-rpc"

// Version is the protocol version a Hello carries. A server refuses a
// client whose major version differs. Version 3: a client sends requests
// right behind its Hello, and the server holds them until the Hello is
// answered. Version 4: errors carry CodeInTheWay. Version 5: Copy, which a
// version 4 server would answer with a protocol error. Version 6: Chunks
// and ChunkList (block delta), which an upload's data session sends
// between SessionOK and the data; over the SSH stream, Create's List,
// Created's Held and Get's Ranges, optional trailing fields that a
// message without them encodes exactly as before (no bump needed); Watch
// and Changed, and errors of CodeNoWatch (same wave, same version).
// Version 7: the UDP data sessions it agrees speak wire.Version 3 (DATA
// without a payload length, FILE with varints), which a version 6 peer's
// sessions cannot read. Within version 7, Watch's States and Changed's
// States are optional trailing fields: the client asks for them, and asks
// again without them if the server refuses the request as malformed.
const Version = 7

// MsgType is the first byte of a frame body.
type MsgType uint8

// Requests open a channel; in-channel messages and responses follow.
const (
	TypeHello MsgType = iota + 1
	TypeScan
	TypeStat
	TypeMkdir
	TypeSymlink
	TypeRemove
	TypeRename
	TypeSetMeta
	TypeFreeSpace
	TypeOpen
	TypeCreate
	TypeGet
	TypeDataSession
	TypeFolding

	TypeRead MsgType = iota + 32
	TypeData
	TypeCommit
	TypeAbort

	TypeWelcome MsgType = iota + 64
	TypeOK
	TypeError
	TypeEntry
	TypeEntries
	TypeSpace
	TypeOpened
	TypeCreated
	TypeSessionOK
	TypeFileError
	TypeFolded

	// TypeCopy is a request added after the others; its value follows
	// TypeFolding so that no existing type changes its number.
	TypeCopy MsgType = TypeFolding + 1
	// TypeChunks asks for a file's chunk list; TypeChunkList carries one.
	TypeChunks    MsgType = TypeFolding + 2
	TypeChunkList MsgType = TypeFolding + 3
	// TypeStatMany lstats many paths in one request.
	TypeStatMany MsgType = TypeFolding + 4
	// TypeDigests asks for strong digests; TypeDigestList answers.
	TypeDigests    MsgType = TypeFolding + 5
	TypeDigestList MsgType = TypeFolding + 6
	// TypeChunksMany asks for many chunk lists in one round trip.
	TypeChunksMany MsgType = TypeFolding + 7
	// TypeWatch asks the server to watch the folder; TypeChanged frames
	// answer it for as long as the channel stays open.
	TypeWatch   MsgType = TypeFolding + 8
	TypeChanged MsgType = TypeFolding + 9
	// TypeListVersions asks for the kept versions of a path; TypeVersionList
	// frames answer it. TypeRestoreVersion puts one back. A server older
	// than these answers them with an Error (unknown message type), as it
	// does Folding: no version bump.
	TypeListVersions   MsgType = TypeFolding + 10
	TypeVersionList    MsgType = TypeFolding + 11
	TypeRestoreVersion MsgType = TypeFolding + 12
)

// Msg is one control message.
type Msg interface {
	Type() MsgType
	appendBody(b []byte) []byte
}

// Hello starts a connection: the protocol version and the folder below the
// user's root that every later path is relative to ("" is the root).
type Hello struct {
	Version uint32
	Path    string
	// Client names the software, for the server's log.
	Client string
	// PartialSuffix names in-flight files (the job's partial_suffix);
	// "" is tree.DefaultPartialSuffix.
	PartialSuffix string
}

// Welcome answers Hello with what the server enforces for this session.
type Welcome struct {
	Version uint32
	User    string
	// RateCap is the server's cap on this user's data rate in bits/s
	// (the smaller of the user's and the server's total); 0 is uncapped.
	RateCap int64
	// UDPPort is where the server accepts data sessions; 0 if it does not.
	UDPPort uint32
}

// Scan asks for a sorted listing of the whole folder, or of part of it.
type Scan struct {
	Exclude       []string
	PartialSuffix string
	// KeepStale (optional, sent only when set or when Within is): leave
	// stale partial files the scan finds (a dry run).
	KeepStale bool
	// Within (optional trailing field, sent only when not empty) is
	// endpoint.ScanOptions.Within: list only those paths' subtrees and
	// the directories above them. A server older than the field refuses
	// the request as malformed (ssh.Prohibited), and the client asks
	// again without it; a hint, so the listing is right either way.
	Within []string
}

// Stat asks for one path's lstat.
type Stat struct{ Path string }

// StatMany asks for the lstat of each path, in one round trip. It is
// answered by one Entries frame with an entry per path, in order: Kind
// Absent for a missing path, Problem set when the stat failed otherwise.
type StatMany struct{ Paths []string }

// ChunksMany asks for the chunk lists of many files in one round trip: of
// Read, each computed if the server kept none (as Chunks); of Kept, only
// those the server's scans kept, never reading a file. It is answered by a
// ChunkList frame per file that has a list, in no set order, then OK.
type ChunksMany struct {
	Read, Kept []tree.Entry
}

// Digests asks for the strong digest of each file (endpoint.Endpoint
// Digests), answered by DigestList with one digest per file, in order.
type Digests struct{ Files []tree.Entry }

// DigestList answers Digests.
type DigestList struct{ Digests []chunk.Digest }

// Watch asks the server to watch the folder for changes (less the paths
// Exclude matches, and in-flight files) and push them as Changed frames
// until the client closes the channel. The first Changed frame, with
// Rescan set, says the watch is armed. A server that cannot watch (the
// inotify watch limit, a filesystem without events) answers with an Error
// of CodeNoWatch, at once or later, and ends the stream.
type Watch struct {
	Exclude []string
	// States asks for Changed.States. It is an optional trailing field: a
	// server of an earlier release refuses a Watch that carries it as
	// malformed, and the client then asks without it.
	States bool
}

// Changed is a batch of changed paths of a Watch, gathered for a short
// while so that a burst is sent in few frames. Rescan says changes may
// have gone unseen (the watch was armed just now, or events were lost):
// the whole folder is worth a look.
type Changed struct {
	Paths  []string
	Rescan bool
	// States, when the Watch asked for them, holds each of Paths' state
	// as the server saw it when it sent the frame, in the same order:
	// Kind (Absent for a path that is gone), Size, Mtime, Mode and Target,
	// or a Problem when it could not look; the client tells its own
	// writes by them. Nil when not asked for; an optional trailing field,
	// so a frame without it encodes exactly as before.
	States []tree.Entry
}

// ListVersions asks for the versions the server's version store holds of
// the file at Prefix and of every file below it ("" for all). It is
// answered by VersionList frames, then OK.
type ListVersions struct{ Prefix string }

// VersionInfo is one kept version, as versions.Version describes it.
type VersionInfo struct {
	Path string
	// Time is when it was kept, ModTime its modification time, both in
	// Unix nanoseconds.
	Time, ModTime int64
	// Reason is why it was kept (versions.Reason).
	Reason string
	Size   int64
	// Mode is its permission bits; Link is set for a symbolic link.
	Mode fs.FileMode
	Link bool
}

// VersionList is one batch of a ListVersions answer, ordered by path then
// time.
type VersionList struct{ Versions []VersionInfo }

// RestoreVersion puts a copy of the version of Path kept at Time for
// Reason back at To, as an ordinary edit; the file at To, if any, is kept
// as a version first. It is answered by OK.
type RestoreVersion struct {
	Path   string
	Time   int64
	Reason string
	To     string
}

// Mkdir creates one directory.
type Mkdir struct {
	Path string
	Mode fs.FileMode
}

// Symlink creates a link at Path, replacing Expect.
type Symlink struct {
	Path, Target string
	Expect       tree.Entry
}

// Remove deletes Path after checking it against Expect.
type Remove struct {
	Path   string
	Expect tree.Entry
}

// Rename moves From to To after checking From against Expect.
type Rename struct {
	From, To string
	Expect   tree.Entry
}

// Copy makes Meta.Path a copy of From, a file in the same folder, after
// checking From against FromExpect; the copy is committed like a Create
// (hash checked, destination re-checked against Expect).
type Copy struct {
	From             string
	FromExpect, Meta tree.Entry
	Expect           tree.Entry
}

// Chunks asks for the chunk list of the file at Path, which must still be
// as Expect says (ErrChanged otherwise). It is answered by ChunkList.
type Chunks struct {
	Path   string
	Expect tree.Entry
}

// ChunkList is one file's chunk list: the answer to Chunks, and, on an
// upload's data session channel, what the client sends after SessionOK
// (then OK) for files the server may build from their current version.
// Hash is the whole file's xxhash the list belongs to. A file too small
// for a list has an empty one (Total set, no chunks).
type ChunkList struct {
	Path string
	Hash uint64
	List chunk.List
}

// SetMeta sets permission bits and mtime.
type SetMeta struct {
	Path  string
	Mode  fs.FileMode
	Mtime int64
}

// FreeSpace asks for the folder's filesystem space.
type FreeSpace struct{}

// Folding asks whether the folder's filesystem folds case and Unicode
// normalisation (endpoint.Endpoint.Folding). A server older than this message
// answers with an Error.
type Folding struct{}

// Folded answers Folding.
type Folded struct{ Case, Normalization bool }

// Open opens a file for random reads (Read requests on the channel).
type Open struct{ Path string }

// Create starts writing Meta.Path; Data frames, then Commit or Abort,
// follow on the channel.
type Create struct {
	Meta, Expect tree.Entry
	// Key identifies the content being sent (see ResumeKey); a partial
	// whose checkpoint holds the same key is resumed.
	Key []byte
	// Fresh discards any partial and starts from offset 0.
	Fresh bool
	// List (optional) is the new version's chunk list: a server that
	// starts the file afresh and holds a current version seeds the partial
	// from the chunks they share and answers them in Created.Held. Encoded
	// last and only when it has chunks.
	List chunk.List
}

// Get streams a file from Offset to its end as Data frames, then OK. The
// file must still match Expect's size and mtime.
type Get struct {
	Path   string
	Offset int64
	Expect tree.Entry
	// Ranges (optional), in order and disjoint, within the file: stream
	// only these, in order, in place of Offset to the end (a block delta
	// fetches the parts its seeded partial lacks). At most MaxRanges.
	// Encoded last and only when set.
	Ranges []chunk.Range
}

// DataSession asks the server for a UDP data session. The client then
// sends the files as Entries frames and OK: for a download the entries the
// server is to send (as scanned), for an upload the destinations' expected
// state (Path set, Kind Absent for a new file). The server answers
// SessionOK, runs the session, reports files it could not send as
// FileError frames, and ends with OK or Error.
// maxLanes bounds the sessions of one transfer (config.MaxSessions).
const maxLanes = 16

type DataSession struct {
	// Download: the server sends, the client receives.
	Download bool
	// Rate is the client's cap for this session in bits/s (0: none).
	Rate int64
	// AbsentUnlisted (upload only): a file the client sends that is not
	// listed is expected absent on the server. The client then lists only
	// destinations it expects to exist, which spares a first sync of many
	// files a long list over the SSH connection before any data moves.
	// Encoded after Rate and only when it or NoEntries is set.
	AbsentUnlisted bool
	// NoEntries (upload with AbsentUnlisted only): the client lists
	// nothing and sends no Entries and no OK, so the server answers
	// SessionOK at once. A first sync's session then costs one round trip
	// instead of two. Encoded only when set (or when Lanes is).
	NoEntries bool
	// Lane and Lanes (Lanes > 1) make this session one of several the
	// client runs for one transfer. SplitAt and Align say how a listed
	// file is split across them: a file that data.SplitFile(size, SplitAt,
	// Lanes, Align) cuts into parts goes as part Lane (a download sends
	// that range only); other files go whole. Encoded last, only when
	// Lanes > 1.
	Lane, Lanes    uint32
	SplitAt, Align int64
}

// SessionOK describes an accepted data session.
type SessionOK struct {
	Port uint32
	ID   []byte // wire.SessionIDLen bytes
	Key  []byte // seal.KeyLen bytes, fresh for this session
	// Rate is the cap the server enforces, bits/s; 0 is uncapped.
	Rate int64
}

// FileError reports one file of a data session that failed on the server.
type FileError struct {
	Path    string
	Code    Code
	Message string
}

// Read asks for up to Len bytes at Off of an opened file.
type Read struct {
	Off int64
	Len uint32
}

// Data carries file bytes at an offset.
type Data struct {
	Off  int64
	Data []byte
}

// Commit finishes a Create.
type Commit struct{}

// Abort stops a Create and keeps the partial for a resume.
type Abort struct{}

// OK answers a request that has no other result, and ends a stream.
type OK struct{}

// Error answers a request that failed.
type Error struct {
	Code    Code
	Message string
}

// EntryMsg answers Stat.
type EntryMsg struct{ Entry tree.Entry }

// Entries is one batch of a Scan's listing.
type Entries struct{ Entries []tree.Entry }

// Space answers FreeSpace.
type Space struct{ Free, Total uint64 }

// Opened answers Open and Get.
type Opened struct{ Size int64 }

// Created answers Create: the sender continues from Offset.
type Created struct {
	Offset int64
	// Held (optional, only when Offset is 0): the ranges, in order and
	// disjoint, that the server seeded from its current version for
	// Create.List; the sender sends only the rest. At most MaxRanges.
	// Encoded last and only when set.
	Held []chunk.Range
}

// MaxRanges bounds Get.Ranges and Created.Held. A side with more sends
// fewer: it merges the ranges past the bound into one (a Get fetches a
// little more) or drops the held ranges past it (they are sent again).
const MaxRanges = 1 << 16

func (Hello) Type() MsgType          { return TypeHello }
func (Welcome) Type() MsgType        { return TypeWelcome }
func (Scan) Type() MsgType           { return TypeScan }
func (Stat) Type() MsgType           { return TypeStat }
func (Mkdir) Type() MsgType          { return TypeMkdir }
func (Symlink) Type() MsgType        { return TypeSymlink }
func (Remove) Type() MsgType         { return TypeRemove }
func (Rename) Type() MsgType         { return TypeRename }
func (Copy) Type() MsgType           { return TypeCopy }
func (Chunks) Type() MsgType         { return TypeChunks }
func (StatMany) Type() MsgType       { return TypeStatMany }
func (Digests) Type() MsgType        { return TypeDigests }
func (ChunksMany) Type() MsgType     { return TypeChunksMany }
func (Watch) Type() MsgType          { return TypeWatch }
func (Changed) Type() MsgType        { return TypeChanged }
func (DigestList) Type() MsgType     { return TypeDigestList }
func (ListVersions) Type() MsgType   { return TypeListVersions }
func (VersionList) Type() MsgType    { return TypeVersionList }
func (RestoreVersion) Type() MsgType { return TypeRestoreVersion }
func (ChunkList) Type() MsgType      { return TypeChunkList }
func (SetMeta) Type() MsgType        { return TypeSetMeta }
func (FreeSpace) Type() MsgType      { return TypeFreeSpace }
func (Open) Type() MsgType           { return TypeOpen }
func (Folding) Type() MsgType        { return TypeFolding }
func (Folded) Type() MsgType         { return TypeFolded }
func (Create) Type() MsgType         { return TypeCreate }
func (Get) Type() MsgType            { return TypeGet }
func (DataSession) Type() MsgType    { return TypeDataSession }
func (SessionOK) Type() MsgType      { return TypeSessionOK }
func (FileError) Type() MsgType      { return TypeFileError }
func (Read) Type() MsgType           { return TypeRead }
func (Data) Type() MsgType           { return TypeData }
func (Commit) Type() MsgType         { return TypeCommit }
func (Abort) Type() MsgType          { return TypeAbort }
func (OK) Type() MsgType             { return TypeOK }
func (Error) Type() MsgType          { return TypeError }
func (EntryMsg) Type() MsgType       { return TypeEntry }
func (Entries) Type() MsgType        { return TypeEntries }
func (Space) Type() MsgType          { return TypeSpace }
func (Opened) Type() MsgType         { return TypeOpened }
func (Created) Type() MsgType        { return TypeCreated }

func appendEntry(b []byte, e tree.Entry) []byte {
	b = appendString(b, e.Path)
	b = append(b, byte(e.Kind))
	b = appendVarint(b, e.Size)
	b = appendVarint(b, e.Mtime)
	b = appendUvarint(b, uint64(e.Mode))
	b = appendUvarint(b, 0) // reserved for flags
	b = binary.BigEndian.AppendUint64(b, e.Hash)
	b = appendString(b, e.Target)
	b = appendUvarint(b, e.Ino)
	return appendString(b, e.Problem)
}

func (d *decoder) entry() tree.Entry {
	var e tree.Entry
	e.Path = d.string()
	k := d.byte1()
	if k > byte(tree.Symlink) {
		d.fail("unknown entry kind")
	}
	e.Kind = tree.Kind(k)
	e.Size = d.varint()
	e.Mtime = d.varint()
	e.Mode = d.mode()
	if d.uvarint() != 0 {
		d.fail("unknown entry flags")
	}
	e.Hash = d.u64fixed()
	e.Target = d.string()
	e.Ino = d.uvarint()
	e.Problem = d.string()
	return e
}

func (d *decoder) mode() fs.FileMode {
	m := d.uvarint()
	if m&^uint64(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
		d.fail("mode has bits other than permissions")
		return 0
	}
	return fs.FileMode(m)
}

func appendStrings(b []byte, ss []string) []byte {
	b = appendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func (d *decoder) strings() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	ss := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		ss = append(ss, d.string())
	}
	return ss
}

func (m Hello) appendBody(b []byte) []byte {
	b = appendUvarint(b, uint64(m.Version))
	b = appendString(b, m.Path)
	b = appendString(b, m.Client)
	return appendString(b, m.PartialSuffix)
}

func (m Welcome) appendBody(b []byte) []byte {
	b = appendUvarint(b, uint64(m.Version))
	b = appendString(b, m.User)
	b = appendVarint(b, m.RateCap)
	return appendUvarint(b, uint64(m.UDPPort))
}

func (m Scan) appendBody(b []byte) []byte {
	b = appendStrings(b, m.Exclude)
	b = appendString(b, m.PartialSuffix)
	if m.KeepStale || len(m.Within) > 0 {
		var keep uint64
		if m.KeepStale {
			keep = 1
		}
		b = appendUvarint(b, keep)
	}
	if len(m.Within) > 0 {
		b = appendStrings(b, m.Within)
	}
	return b
}

func (m Stat) appendBody(b []byte) []byte { return appendString(b, m.Path) }

func (m StatMany) appendBody(b []byte) []byte { return appendStrings(b, m.Paths) }

func (m ChunksMany) appendBody(b []byte) []byte {
	for _, es := range [][]tree.Entry{m.Read, m.Kept} {
		b = appendUvarint(b, uint64(len(es)))
		for _, e := range es {
			b = appendEntry(b, e)
		}
	}
	return b
}

func (m Digests) appendBody(b []byte) []byte {
	b = appendUvarint(b, uint64(len(m.Files)))
	for _, e := range m.Files {
		b = appendEntry(b, e)
	}
	return b
}

func (m Watch) appendBody(b []byte) []byte {
	b = appendStrings(b, m.Exclude)
	if m.States {
		b = appendBool(b, true)
	}
	return b
}

func (m Changed) appendBody(b []byte) []byte {
	b = appendBool(appendStrings(b, m.Paths), m.Rescan)
	if len(m.States) > 0 {
		b = appendUvarint(b, uint64(len(m.States)))
		for _, e := range m.States {
			b = appendState(b, e)
		}
	}
	return b
}

// Split cuts c into notices whose frames' bodies are at most limit bytes
// each (MaxFrame for the wire; a frame over it is refused by the
// receiver), keeping Paths and States in order and together. Rescan goes
// with the first. A path with its state is a few KiB at most, so a
// limit of MaxFrame holds hundreds of them; one alone over limit still
// gets a frame of its own.
func (c Changed) Split(limit int) []Changed {
	// The type byte, both counts (uvarints of at most 10 bytes) and
	// Rescan.
	const overhead = 1 + 10 + 1 + 10
	var out []Changed
	start, size := 0, overhead
	cut := func(end int) {
		f := Changed{Paths: c.Paths[start:end], Rescan: c.Rescan && len(out) == 0}
		if c.States != nil {
			f.States = c.States[start:end]
		}
		out = append(out, f)
		start, size = end, overhead
	}
	var scratch []byte
	for i, p := range c.Paths {
		n := len(appendString(scratch[:0], p))
		if c.States != nil {
			scratch = appendState(scratch[:0], c.States[i])
			n += len(scratch)
		}
		if i > start && size+n > limit {
			cut(i)
		}
		size += n
	}
	cut(len(c.Paths))
	return out
}

// appendState encodes what a Changed frame says of a path's state; the
// path itself is Paths'.
func appendState(b []byte, e tree.Entry) []byte {
	b = append(b, byte(e.Kind))
	b = appendVarint(b, e.Size)
	b = appendVarint(b, e.Mtime)
	b = appendUvarint(b, uint64(e.Mode))
	b = appendString(b, e.Target)
	return appendString(b, e.Problem)
}

func (d *decoder) state(path string) tree.Entry {
	e := tree.Entry{Path: path}
	k := d.byte1()
	if k > byte(tree.Symlink) {
		d.fail("unknown entry kind")
	}
	e.Kind = tree.Kind(k)
	e.Size = d.varint()
	e.Mtime = d.varint()
	e.Mode = d.mode()
	e.Target = d.string()
	e.Problem = d.string()
	return e
}

func (m ListVersions) appendBody(b []byte) []byte { return appendString(b, m.Prefix) }

func (m VersionList) appendBody(b []byte) []byte {
	b = appendUvarint(b, uint64(len(m.Versions)))
	for _, v := range m.Versions {
		b = appendString(b, v.Path)
		b = appendVarint(b, v.Time)
		b = appendString(b, v.Reason)
		b = appendVarint(b, v.Size)
		b = appendVarint(b, v.ModTime)
		b = appendUvarint(b, uint64(v.Mode))
		b = appendBool(b, v.Link)
	}
	return b
}

func (d *decoder) versionInfo() VersionInfo {
	return VersionInfo{Path: d.string(), Time: d.varint(), Reason: d.string(), Size: d.varint(),
		ModTime: d.varint(), Mode: d.mode(), Link: d.bool()}
}

func (m RestoreVersion) appendBody(b []byte) []byte {
	b = appendString(b, m.Path)
	b = appendVarint(b, m.Time)
	b = appendString(b, m.Reason)
	return appendString(b, m.To)
}

func (m DigestList) appendBody(b []byte) []byte {
	b = appendUvarint(b, uint64(len(m.Digests)))
	for _, d := range m.Digests {
		b = append(b, d[:]...)
	}
	return b
}

func (m Mkdir) appendBody(b []byte) []byte {
	b = appendString(b, m.Path)
	return appendUvarint(b, uint64(m.Mode))
}

func (m Symlink) appendBody(b []byte) []byte {
	b = appendString(b, m.Path)
	b = appendString(b, m.Target)
	return appendEntry(b, m.Expect)
}

func (m Remove) appendBody(b []byte) []byte {
	b = appendString(b, m.Path)
	return appendEntry(b, m.Expect)
}

func (m Rename) appendBody(b []byte) []byte {
	b = appendString(b, m.From)
	b = appendString(b, m.To)
	return appendEntry(b, m.Expect)
}

func (m Copy) appendBody(b []byte) []byte {
	b = appendString(b, m.From)
	b = appendEntry(b, m.FromExpect)
	b = appendEntry(b, m.Meta)
	return appendEntry(b, m.Expect)
}

func (m Chunks) appendBody(b []byte) []byte {
	b = appendString(b, m.Path)
	return appendEntry(b, m.Expect)
}

func (m ChunkList) appendBody(b []byte) []byte {
	b = appendString(b, m.Path)
	b = binary.BigEndian.AppendUint64(b, m.Hash)
	if len(m.List.Chunks) == 0 {
		b = append(b, 0)
		return appendVarint(b, m.List.Total)
	}
	b = append(b, 1)
	return m.List.Append(b)
}

func (m SetMeta) appendBody(b []byte) []byte {
	b = appendString(b, m.Path)
	b = appendUvarint(b, uint64(m.Mode))
	return appendVarint(b, m.Mtime)
}

func (FreeSpace) appendBody(b []byte) []byte { return b }

func (m Open) appendBody(b []byte) []byte { return appendString(b, m.Path) }

func (Folding) appendBody(b []byte) []byte { return b }

func (m Folded) appendBody(b []byte) []byte {
	b = appendBool(b, m.Case)
	return appendBool(b, m.Normalization)
}

func (m Create) appendBody(b []byte) []byte {
	b = appendEntry(b, m.Meta)
	b = appendEntry(b, m.Expect)
	b = appendBytes(b, m.Key)
	b = appendBool(b, m.Fresh)
	if len(m.List.Chunks) > 0 {
		b = m.List.Append(b)
	}
	return b
}

func (m Get) appendBody(b []byte) []byte {
	b = appendString(b, m.Path)
	b = appendVarint(b, m.Offset)
	b = appendEntry(b, m.Expect)
	if len(m.Ranges) > 0 {
		b = appendRanges(b, m.Ranges)
	}
	return b
}

func (m DataSession) appendBody(b []byte) []byte {
	b = appendBool(b, m.Download)
	b = appendVarint(b, m.Rate)
	if m.AbsentUnlisted || m.NoEntries || m.Lanes > 1 {
		b = appendBool(b, m.AbsentUnlisted)
	}
	if m.Lanes > 1 {
		b = appendBool(b, m.NoEntries)
		b = appendUvarint(b, uint64(m.Lane))
		b = appendUvarint(b, uint64(m.Lanes))
		b = appendVarint(b, m.SplitAt)
		return appendVarint(b, m.Align)
	}
	if m.NoEntries {
		b = appendBool(b, true)
	}
	return b
}

func (m SessionOK) appendBody(b []byte) []byte {
	b = appendUvarint(b, uint64(m.Port))
	b = appendBytes(b, m.ID)
	b = appendBytes(b, m.Key)
	return appendVarint(b, m.Rate)
}

func (m FileError) appendBody(b []byte) []byte {
	b = appendString(b, m.Path)
	b = append(b, byte(m.Code))
	return appendString(b, m.Message)
}

// Err returns the client-side error for m.
func (m FileError) Err() error { return &RemoteError{Code: m.Code, Message: m.Message} }

func (m Read) appendBody(b []byte) []byte {
	b = appendVarint(b, m.Off)
	return appendUvarint(b, uint64(m.Len))
}

func (m Data) appendBody(b []byte) []byte {
	b = appendVarint(b, m.Off)
	return appendBytes(b, m.Data)
}

func (Commit) appendBody(b []byte) []byte { return b }
func (Abort) appendBody(b []byte) []byte  { return b }
func (OK) appendBody(b []byte) []byte     { return b }

func (m Error) appendBody(b []byte) []byte {
	b = append(b, byte(m.Code))
	return appendString(b, m.Message)
}

func (m EntryMsg) appendBody(b []byte) []byte { return appendEntry(b, m.Entry) }

func (m Entries) appendBody(b []byte) []byte {
	b = appendUvarint(b, uint64(len(m.Entries)))
	for _, e := range m.Entries {
		b = appendEntry(b, e)
	}
	return b
}

func (m Space) appendBody(b []byte) []byte {
	b = appendUvarint(b, m.Free)
	return appendUvarint(b, m.Total)
}

func (m Opened) appendBody(b []byte) []byte { return appendVarint(b, m.Size) }

func (m Created) appendBody(b []byte) []byte {
	b = appendVarint(b, m.Offset)
	if len(m.Held) > 0 {
		b = appendRanges(b, m.Held)
	}
	return b
}

func parseBody(t MsgType, body []byte) (Msg, error) {
	d := &decoder{b: body}
	var m Msg
	switch t {
	case TypeHello:
		m = Hello{Version: d.u32(), Path: d.string(), Client: d.string(), PartialSuffix: d.string()}
	case TypeWelcome:
		m = Welcome{Version: d.u32(), User: d.string(), RateCap: d.varint(), UDPPort: d.u32()}
	case TypeScan:
		s := Scan{Exclude: d.strings(), PartialSuffix: d.string()}
		if d.err == nil && len(d.b) > 0 {
			s.KeepStale = d.uvarint() == 1
		}
		if d.err == nil && len(d.b) > 0 {
			s.Within = d.strings()
		}
		m = s
	case TypeStat:
		m = Stat{Path: d.string()}
	case TypeMkdir:
		m = Mkdir{Path: d.string(), Mode: d.mode()}
	case TypeSymlink:
		m = Symlink{Path: d.string(), Target: d.string(), Expect: d.entry()}
	case TypeRemove:
		m = Remove{Path: d.string(), Expect: d.entry()}
	case TypeRename:
		m = Rename{From: d.string(), To: d.string(), Expect: d.entry()}
	case TypeCopy:
		m = Copy{From: d.string(), FromExpect: d.entry(), Meta: d.entry(), Expect: d.entry()}
	case TypeStatMany:
		m = StatMany{Paths: d.strings()}
	case TypeChunksMany:
		var cm ChunksMany
		for _, es := range []*[]tree.Entry{&cm.Read, &cm.Kept} {
			n := d.count()
			for i := 0; i < n && d.err == nil; i++ {
				*es = append(*es, d.entry())
			}
		}
		m = cm
	case TypeWatch:
		w := Watch{Exclude: d.strings()}
		if d.err == nil && len(d.b) > 0 {
			w.States = d.bool()
		}
		m = w
	case TypeChanged:
		c := Changed{Paths: d.strings(), Rescan: d.bool()}
		if d.err == nil && len(d.b) > 0 {
			if n := d.count(); d.err == nil && n != len(c.Paths) {
				d.fail("states do not match the paths")
			}
			for i := 0; i < len(c.Paths) && d.err == nil; i++ {
				c.States = append(c.States, d.state(c.Paths[i]))
			}
		}
		m = c
	case TypeListVersions:
		m = ListVersions{Prefix: d.string()}
	case TypeVersionList:
		n := d.count()
		vs := make([]VersionInfo, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			vs = append(vs, d.versionInfo())
		}
		m = VersionList{Versions: vs}
	case TypeRestoreVersion:
		m = RestoreVersion{Path: d.string(), Time: d.varint(), Reason: d.string(), To: d.string()}
	case TypeDigests:
		n := d.count()
		es := make([]tree.Entry, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			es = append(es, d.entry())
		}
		m = Digests{Files: es}
	case TypeDigestList:
		n := d.count()
		ds := make([]chunk.Digest, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			var dg chunk.Digest
			copy(dg[:], d.bytesFixed(len(dg)))
			ds = append(ds, dg)
		}
		m = DigestList{Digests: ds}
	case TypeChunks:
		m = Chunks{Path: d.string(), Expect: d.entry()}
	case TypeChunkList:
		cl := ChunkList{Path: d.string(), Hash: d.u64fixed()}
		if d.bool() {
			cl.List = d.chunkList()
		} else {
			cl.List.Total = d.varint()
		}
		m = cl
	case TypeSetMeta:
		m = SetMeta{Path: d.string(), Mode: d.mode(), Mtime: d.varint()}
	case TypeFreeSpace:
		m = FreeSpace{}
	case TypeOpen:
		m = Open{Path: d.string()}
	case TypeFolding:
		m = Folding{}
	case TypeFolded:
		m = Folded{Case: d.bool(), Normalization: d.bool()}
	case TypeCreate:
		c := Create{Meta: d.entry(), Expect: d.entry(), Key: d.bytesN(1024), Fresh: d.bool()}
		if d.err == nil && len(d.b) > 0 {
			c.List = d.chunkList()
		}
		m = c
	case TypeGet:
		g := Get{Path: d.string(), Offset: d.varint(), Expect: d.entry()}
		if d.err == nil && len(d.b) > 0 {
			g.Ranges = d.ranges()
		}
		m = g
	case TypeDataSession:
		ds := DataSession{Download: d.bool(), Rate: d.varint()}
		if d.err == nil && len(d.b) > 0 {
			ds.AbsentUnlisted = d.bool()
		}
		if d.err == nil && len(d.b) > 0 {
			ds.NoEntries = d.bool()
		}
		if d.err == nil && len(d.b) > 0 {
			ds.Lane, ds.Lanes = uint32(d.uvarint()), uint32(d.uvarint())
			ds.SplitAt, ds.Align = d.varint(), d.varint()
			if d.err == nil && (ds.Lanes < 2 || ds.Lane >= ds.Lanes || ds.Lanes > maxLanes || ds.SplitAt < 0 || ds.Align <= 0) {
				d.fail("bad data session lanes")
			}
		}
		m = ds
	case TypeSessionOK:
		m = SessionOK{Port: d.u32(), ID: d.bytesN(1024), Key: d.bytesN(1024), Rate: d.varint()}
	case TypeFileError:
		m = FileError{Path: d.string(), Code: Code(d.byte1()), Message: d.string()}
	case TypeRead:
		m = Read{Off: d.varint(), Len: d.u32()}
	case TypeData:
		m = Data{Off: d.varint(), Data: d.bytesN(MaxData)}
	case TypeCommit:
		m = Commit{}
	case TypeAbort:
		m = Abort{}
	case TypeOK:
		m = OK{}
	case TypeError:
		m = Error{Code: Code(d.byte1()), Message: d.string()}
	case TypeEntry:
		m = EntryMsg{Entry: d.entry()}
	case TypeEntries:
		n := d.count()
		es := make([]tree.Entry, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			es = append(es, d.entry())
		}
		m = Entries{Entries: es}
	case TypeSpace:
		m = Space{Free: d.uvarint(), Total: d.uvarint()}
	case TypeOpened:
		m = Opened{Size: d.varint()}
	case TypeCreated:
		c := Created{Offset: d.varint()}
		if d.err == nil && len(d.b) > 0 {
			c.Held = d.ranges()
		}
		m = c
	default:
		return nil, fmt.Errorf("%w: unknown message type %d", ErrMalformed, t)
	}
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("unable to decode message type %d: %w", t, err)
	}
	return m, nil
}
